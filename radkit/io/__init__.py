"""Medical image I/O: DICOM (file and series), NIfTI, PNG/JPEG into one `Image` record."""

from radkit.io.image import Image
from radkit.io.read import read_image
from radkit.io.validate import check_ct_intensity

__all__ = ["Image", "read_image", "check_ct_intensity"]
