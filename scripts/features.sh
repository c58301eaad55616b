# Sourced by scripts/test.sh and scripts/bench.sh: picks the cargo features to build with and
# installs what they need. EMBEDDINGS_FEATURES overrides the default (mkl on x86-64, where
# Debian's MKL is installed by scripts/install-mkl.sh; nothing elsewhere). Sets the array
# `features` (cargo arguments).
if [ -z "${EMBEDDINGS_FEATURES+set}" ]; then
    if [ "$(uname -m)" = x86_64 ]; then EMBEDDINGS_FEATURES=mkl; else EMBEDDINGS_FEATURES=; fi
fi
features=()
if [ -n "$EMBEDDINGS_FEATURES" ]; then
    features=(--features "$EMBEDDINGS_FEATURES")
    case ",$EMBEDDINGS_FEATURES," in *,mkl,*) scripts/install-mkl.sh ;; esac
fi
