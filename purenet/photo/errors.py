"""What can go wrong when a photo is read: every module of the photo pipeline raises these.

    ImageError     the file is not a readable image, or no digit can be found in it
    ImageWarning   something odd about an image read all the same (when no ``warned`` list is given)
"""

from __future__ import annotations


class ImageError(ValueError):
    """An image cannot be read, or shows no digit; the message names the file and the problem."""


class ImageWarning(UserWarning):
    """Something odd about an image that was read all the same; the message names the file."""


BLANK = "no digit found: the image is blank"
"""Why a blank image has no answer (steps 6 and 10 both find it)."""
