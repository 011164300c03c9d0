"""Inference: speech audio + reference frames of a speaker + a model file → rtMRI video.

- :mod:`.frames`: the generator over ROI frames (:func:`synthesize_frames`), sync-expert
  embeddings, side-by-side panels (used by training and evaluation too);
- :mod:`.roi`: where the model's ROI sits in a full frame (temporal variance for a clip, the
  face-profile rule for one frame) and the seamless paste-back;
- :mod:`.stream`: :func:`synthesize`, long audio in constant memory, chunk by chunk;
- :mod:`.output`: a streaming MP4 writer and all-or-nothing outputs (``mrisynth synthesize``).
"""

from mrisynth.synthesis.frames import (
    side_by_side,
    sync_embeddings,
    synthesize_frames,
    write_side_by_side_samples,
)
from mrisynth.synthesis.output import Mp4Writer, StagedOutputs, display_uint8
from mrisynth.synthesis.roi import (
    PasteBack,
    RoiBox,
    border_jump,
    find_reference_roi,
    find_roi_in_frame,
    roi_from_mm,
)
from mrisynth.synthesis.stream import (
    HOW_TO_GET_A_MODEL,
    SynthesisModel,
    SynthesisStream,
    prepare_reference,
    resolve_model_path,
    synthesize,
)

__all__ = [
    "HOW_TO_GET_A_MODEL",
    "Mp4Writer",
    "PasteBack",
    "RoiBox",
    "StagedOutputs",
    "SynthesisModel",
    "SynthesisStream",
    "border_jump",
    "display_uint8",
    "find_reference_roi",
    "find_roi_in_frame",
    "prepare_reference",
    "resolve_model_path",
    "roi_from_mm",
    "side_by_side",
    "sync_embeddings",
    "synthesize",
    "synthesize_frames",
    "write_side_by_side_samples",
]
