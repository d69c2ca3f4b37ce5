"""Runs a seed script unchanged on a test port: the script only asks for a host and
uses tb-mqtt-client's default port 1883 (Mosquitto's on these machines), so the port
the hub listens on is read from the first stdin line and made that default; the second
line names the script (beside this file). The rest of stdin is the script's answers."""

import runpy
import sys
from pathlib import Path

import tb_device_mqtt

port = int(input())
defaults = list(tb_device_mqtt.TBDeviceMqttClient.__init__.__defaults__)
defaults[0] = port  # (port=1883, username=None, ...)
tb_device_mqtt.TBDeviceMqttClient.__init__.__defaults__ = tuple(defaults)
script = str(Path(__file__).with_name(input().strip()))
sys.argv = [script]
runpy.run_path(script, run_name="__main__")
