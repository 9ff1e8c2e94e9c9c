"""What every function package may import, and which imports none of them.

* :mod:`shared.imaging`: the image limits of the Rekognition APIs (and the code
  reader's) and a header check of JPEG/PNG bytes;
* :mod:`shared.aws_errors`: AWS failures sorted by what retrying can do;
* :mod:`shared.layout`: the storage layout (bucket prefixes, index names, the
  reviewers' group), which the stacks read too;
* :mod:`shared.pointer`: the stage's model pointer, read and written here only;
* :mod:`shared.environment`: a function's environment parsed into its typed
  settings;
* :mod:`shared.embeddings`: Bedrock image embedding models and the nearest photos' vote;
* :mod:`shared.people`: a person's name as a Rekognition ``UserId`` and back;
* :mod:`shared.paging`: every page of a paginated AWS call;
* :mod:`shared.dynamodb_values`: numbers read leniently out of DynamoDB items.

A test fails if a module here imports a function package, or if one function
package imports another (``tests/test_layout.py``).
"""
