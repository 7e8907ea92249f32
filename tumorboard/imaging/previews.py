"""Previews of a series: rendered from a received object (a middle frame, windowed), scaled down for print, and
handed out as files or ``data:`` URIs. Where the files live is the image store's business (:class:`Spool`)."""

from __future__ import annotations

import base64
import io
import re
import warnings
from pathlib import Path
from typing import Any

from tumorboard.i18n import N_
from tumorboard.imaging.dicom.spool import Spool
from tumorboard.imaging.models import ImagingSeries
from tumorboard.imaging.summaries import SeriesPreview

PREVIEW_SIZE = 256


class PreviewError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def preview_png(path: Path) -> bytes:
    """A PNG (≤ 256 px) of the object's middle frame: modality LUT, then the first window it declares, else
    the 1st–99th percentile; MONOCHROME1 inverted. Raises PreviewError with a German reason."""
    import numpy as np
    from PIL import Image
    from pydicom import dcmread
    from pydicom.pixels.processing import apply_modality_lut

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = dcmread(path, force=True)
            if "PixelData" not in ds:
                raise PreviewError(N_("keine Bilddaten"))
            try:
                pixels: Any = ds.pixel_array
            except Exception as err:
                name = ds.file_meta.TransferSyntaxUID.name if "TransferSyntaxUID" in ds.file_meta else "?"
                raise PreviewError(f"Transfersyntax nicht dekodierbar: {name}") from err
            frames = int(ds.get("NumberOfFrames") or 1)
            if frames > 1:
                pixels = pixels[frames // 2]
            if ds.get("SamplesPerPixel", 1) == 1:
                data = np.asarray(apply_modality_lut(pixels, ds), dtype=np.float64)
                center, width = _window(ds)
                if center is None or width is None or width <= 1:
                    low, high = np.percentile(data, (1, 99))
                else:
                    low, high = center - width / 2, center + width / 2
                scaled = np.clip((data - low) / max(high - low, 1e-6), 0, 1) * 255
                if ds.get("PhotometricInterpretation") == "MONOCHROME1":
                    scaled = 255 - scaled
                image = Image.fromarray(scaled.astype(np.uint8), mode="L")
            else:
                image = Image.fromarray(np.asarray(pixels, dtype=np.uint8)).convert("RGB")
    except PreviewError:
        raise
    except Exception as err:
        raise PreviewError(f"Bild nicht lesbar ({type(err).__name__})") from err
    image.thumbnail((PREVIEW_SIZE, PREVIEW_SIZE))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _window(ds: Any) -> tuple[float | None, float | None]:
    from pydicom.multival import MultiValue

    def first(value: Any) -> float | None:
        if isinstance(value, MultiValue):
            value = value[0] if len(value) else None
        try:
            return float(value) if value is not None else None
        except (TypeError, ValueError):
            return None

    return first(ds.get("WindowCenter")), first(ds.get("WindowWidth"))


_SAFE_NAME_RE = re.compile(r"^[0-9]+\.png$")


def preview_file_name(series: ImagingSeries) -> str | None:
    """The preview's file name, only if it has the shape we write (defence in depth)."""
    name = series.preview_name
    return name if name and _SAFE_NAME_RE.match(name) else None


def preview_data_uri(store: Spool, preview: SeriesPreview, *, max_px: int | None = None) -> str | None:
    """The preview as a ``data:`` URI, for renderers that fetch nothing else (the agenda PDF):
    ``case_imaging(summary, preview_url=lambda sid: uris[sid])``. ``max_px`` scales it down first: a print
    thumbnail needs far fewer pixels than the stored preview, and every pixel costs PDF rendering time."""
    if not preview.preview_name or not _SAFE_NAME_RE.match(preview.preview_name):
        return None
    path = store.preview_path(preview.preview_name)
    try:
        data = path.read_bytes()
        if max_px is not None:
            data = _scaled_png(data, max_px)
    except OSError:
        return None
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _scaled_png(data: bytes, max_px: int) -> bytes:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            if max(image.size) <= max_px:
                return data
            image.thumbnail((max_px, max_px))
            out = io.BytesIO()
            image.save(out, format="PNG")
    except (UnidentifiedImageError, ValueError) as err:
        raise OSError(f"preview is not a readable PNG: {err}") from err
    return out.getvalue()
