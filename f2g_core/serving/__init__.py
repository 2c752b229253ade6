"""A reward in another Python environment: ``f2g serve reward ID`` (the server) and the ``remote`` reward (its
client), speaking JSON over HTTP on 127.0.0.1 (``protocol.py``)."""
