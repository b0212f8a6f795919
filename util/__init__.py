"""Utilities: devices, seeding, checkpoints, image conversion, HTML pages, visualizer, video, downloads."""
