"""tradepipe's stage packages (ml.<stage>) and their shared modules."""

import os

# OpenMP threads (LightGBM, scikit-learn) that wait passively instead of spinning: on a machine
# busy with other processes, spinning waiters made LightGBM fits many times slower (a 40-round
# fit at load 10 on 2 cores: 28.3 s spinning, 6.8 s passive). Read when the OpenMP runtime
# loads, so set here, before any of them is imported; a value already set is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
