"""One module per area of the mount, one class per path kind (see ``tree.py``)."""
