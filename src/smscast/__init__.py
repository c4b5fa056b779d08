"""smscast: a self-hosted SMS campaign server that speaks Routee's SMS API and delivers over SMPP 3.4."""

__version__ = "0.1.0"
