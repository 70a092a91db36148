"""dui-agent: measures the DUI from a site workstation and delivers every result."""

__version__ = "0.1.0"
