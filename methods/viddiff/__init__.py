"""VidDiff: the paper's three-stage agent (proposer, CLIP+Viterbi localizer, VLM differencer).

Import `vidbench_methods.viddiff.method.VidDiffMethod`; torch and open_clip load only when the CLIP
localizer runs.
"""
