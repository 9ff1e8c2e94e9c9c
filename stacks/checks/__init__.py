"""cdk-nag and CloudFormation Guard: the checks every synth runs, and the acknowledged findings."""
