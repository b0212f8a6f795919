"""Keypoint detectors for the ``pose`` and ``face`` modes, and their mappings to the layouts those modes read.

- :mod:`data.detect.mapping`: pure NumPy mappings of MediaPipe's landmarks to OpenPose BODY_25 + 70 face points +
  21-point hands, and of MediaPipe's face mesh to dlib's 68 points;
- :mod:`data.detect.backends`: what a back-end is (``Backend(load, probe)``); the registries are
  ``data.prepare.pose.POSE_BACKENDS`` and ``data.prepare.face.FACE_BACKENDS`` (a new back-end is one entry);
- :mod:`data.detect.mediapipe_backend` (``pip install -e .[pose]`` then ``pip install --no-deps mediapipe==0.10.14``,
  ``make mediapipe``) and :mod:`data.detect.dlib_backend` (``pip install -e .[face]``).

Every back-end is imported lazily: a missing package is reported as one ``error:`` line naming the install command.
"""
