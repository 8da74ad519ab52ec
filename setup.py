"""Build the native core, mmap_io._core, with the compiler Python was built
with (gcc on Linux; set CC=clang for clang).  Extra CFLAGS from the
environment are honoured.

Switches (environment variables, off unless set to 1):

- MMAPIO_WERROR=1: turn warnings into errors.  CI sets it; a user's build
  never fails on a warning that a newer compiler or distribution flags
  (such as -D_FORTIFY_SOURCE) bring.
- MMAPIO_SANITIZE=1: build with ASan and UBSan.
- MMAPIO_DEBUG=1: -O0 -g3.
"""

import os

from setuptools import Extension, setup


def _on(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")


warn = ["-Wall", "-Wextra", "-Wno-missing-field-initializers"]
if _on("MMAPIO_WERROR"):
    warn.append("-Werror")
opt = ["-O2"]
link: list[str] = []
if _on("MMAPIO_DEBUG"):
    opt = ["-O0", "-g3"]
if _on("MMAPIO_SANITIZE"):
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
