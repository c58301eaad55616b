# Sourced by scripts/test.sh and scripts/bench.sh: picks the cargo features to build with and
# installs what they need. The default is the pure-Rust build, which needs nothing installed and
# no root; EMBEDDINGS_FEATURES=mkl opts into Intel MKL on x86-64 (Debian's libmkl-dev, installed
# by scripts/install-mkl.sh, which needs root). Sets the array `features` (cargo arguments).
EMBEDDINGS_FEATURES="${EMBEDDINGS_FEATURES:-}"
features=()
if [ -n "$EMBEDDINGS_FEATURES" ]; then
    features=(--features "$EMBEDDINGS_FEATURES")
    case ",$EMBEDDINGS_FEATURES," in *,mkl,*) scripts/install-mkl.sh ;; esac
fi
