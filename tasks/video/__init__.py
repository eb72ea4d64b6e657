"""Action recognition on HMDB51 split 1 (video, and video_p initialised from the cls_a backbone)."""
