"""vid2vid's helpers behind ``models/vid2vid_model.py``: the loss criterion, the schedule, temporal
discriminator groups, inference, training pictures and the pose face box."""
