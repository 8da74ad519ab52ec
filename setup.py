"""Build the native core, mmap_io._core, with the compiler Python was built
with (gcc on Linux).  Set MMAPIO_SANITIZE=1 to build with ASan and UBSan,
MMAPIO_DEBUG=1 for -O0 -g."""

import os

from setuptools import Extension, setup

warn = ["-Wall", "-Wextra", "-Werror", "-Wno-missing-field-initializers"]
opt = ["-O2"]
link: list[str] = []
if os.environ.get("MMAPIO_DEBUG"):
    opt = ["-O0", "-g3"]
if os.environ.get("MMAPIO_SANITIZE"):
    san = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer"]
    opt = ["-O1", "-g"] + san
    link = san

setup(
    ext_modules=[
        Extension(
            "mmap_io._core",
            sources=["csrc/module.c"],
            depends=[os.path.join("csrc", f) for f in sorted(os.listdir("csrc"))],
            extra_compile_args=["-std=gnu11", *warn, *opt],
            extra_link_args=link,
        )
    ]
)
