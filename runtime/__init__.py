"""What every dui-sla process shares at run time (not the wire format): config-file
loading and units, structured logs, the service stop, secret files and the MQTT session."""
