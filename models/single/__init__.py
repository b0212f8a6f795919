"""The single-frame (pix2pixHD) first-frame generator's helpers behind ``models/single_model.py``: its
instance features and the face first-frame loader."""
