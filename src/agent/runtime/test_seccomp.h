// For tests only: tests of Docker's default seccomp profile need the file
// Debian ships (/usr/share/containers/seccomp.json, package
// golang-github-containers-common, installed by scripts/install-deps.sh).
// Without it they FAIL, saying what to install; they skip only when
// SHOAL_TEST_NO_SECCOMP_PROFILE=1 says so, with a warning on stderr.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <iostream>

#include "agent/runtime/seccomp.h"

#define SHOAL_REQUIRE_DEFAULT_SECCOMP_PROFILE()                                                                   \
  do {                                                                                                             \
    if (access(::shoal::runtime::kDefaultSeccompProfilePath, R_OK) != 0) {                                        \
      const char* allow = std::getenv("SHOAL_TEST_NO_SECCOMP_PROFILE");                                          \
      if (allow && std::strcmp(allow, "1") == 0) {                                                                \
        std::cerr << "WARNING: skipping a seccomp test: " << ::shoal::runtime::kDefaultSeccompProfilePath        \
                  << " is missing and SHOAL_TEST_NO_SECCOMP_PROFILE=1\n";                                         \
        GTEST_SKIP() << "SHOAL_TEST_NO_SECCOMP_PROFILE=1 and no " << ::shoal::runtime::kDefaultSeccompProfilePath; \
      }                                                                                                            \
      FAIL() << ::shoal::runtime::kDefaultSeccompProfilePath                                                      \
             << " is missing: apt-get install golang-github-containers-common (scripts/install-deps.sh), or set " \
                "SHOAL_TEST_NO_SECCOMP_PROFILE=1 to skip the tests that need it";                                 \
    }                                                                                                              \
  } while (0)
