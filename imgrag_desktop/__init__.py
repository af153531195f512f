"""imgrag-desktop: offline search and question answering over your own images."""

import os as _os

__version__ = "0.1.0"

# torch's OpenMP threads spin while they wait for work. When the cores are busy (indexing runs
# beside a search, or other programs run), spinning threads steal the time of the threads that
# have work: on a loaded 2-core machine a one-line CLIP text query took 1,100 ms with spinning
# threads and 46 ms with sleeping ones (60 ms vs 18 ms on a quieter one is within noise). Set
# before torch is imported; a value the user set wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
