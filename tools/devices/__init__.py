"""Devices: things registered in AWS IoT, and the device-side client.

* ``register`` (``python -m tools.devices register NAME``): a thing, its
  certificate and key, saved for the device;
* ``client`` (``python -m tools.devices.client --device-dir DIR ...``): publish
  events and telemetry over MQTT with an on-disk queue, and photos through the API.
"""
