"""mrisynth: audio-driven speech-MRI synthesis.

Subpackages (each imports only the ones listed before it):
``utils`` → ``data`` → ``io`` → ``transforms`` → ``phantom`` → ``modules`` → ``models`` →
``losses`` → ``metrics`` → ``engine`` → ``config`` → ``cli``.
"""

__version__ = "0.1.0"
