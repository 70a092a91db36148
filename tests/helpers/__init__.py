"""Real parts for the tests: Mosquitto, a stand-in collector that acks, loopback servers."""
