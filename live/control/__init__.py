"""Control over ZeroMQ: commands in (ROUTER), telemetry out (PUB); see PROTOCOL.md.

protocol.py is the message schema (pure), ccmap.py the preset's control-change map,
telemetry.py what waits to be published, security.py the loopback rule and CurveZMQ keys,
server.py the control thread, client.py the other end. The bridges carry controllers to it:
osc.py reads OSC (pure), midi.py MIDI (pure), bridge.py forwards and runs the OSC bridge,
midi_bridge.py the MIDI ports and bridge.
"""
