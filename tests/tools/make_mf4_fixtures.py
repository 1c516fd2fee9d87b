"""Makes the MF4 fixtures of tests/data/formats/mf4/ with real peers.

    /opt/peers/bin/python tests/tools/make_mf4_fixtures.py

From frames.txt (the frame list, in the line format of tests/tools/mf4_peer.py):
- python-can.mf4: python-can's MF4Writer, no compression (DT blocks);
- python-can-transposed.mf4: python-can's MF4Writer, compression 2 (DZ, transposed + deflate);
- asammdf-deflate.mf4: python-can.mf4 re-saved by asammdf with compression 1 (DZ, deflate).
Needs python-can and asammdf in the Python that runs it.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data", "formats", "mf4")
sys.path.insert(0, HERE)

import mf4_peer  # noqa: E402


def main():
    frames = os.path.join(DATA, "frames.txt")
    plain = os.path.join(DATA, "python-can.mf4")
    mf4_peer.write(frames, plain, 0)
    mf4_peer.write(frames, os.path.join(DATA, "python-can-transposed.mf4"), 2)
    mf4_peer.resave(plain, os.path.join(DATA, "asammdf-deflate.mf4"), 1)


if __name__ == "__main__":
    main()
