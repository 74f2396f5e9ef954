// bench/batch_gtest.sh's binary: 500 GoogleTest cases that do nothing, in 10 suites of 50.

#include <gtest/gtest.h>

#define CASE(s, n) \
  TEST(s, C##n) {}
#define TEN(s, d) CASE(s, d##0) CASE(s, d##1) CASE(s, d##2) CASE(s, d##3) CASE(s, d##4) \
                  CASE(s, d##5) CASE(s, d##6) CASE(s, d##7) CASE(s, d##8) CASE(s, d##9)
#define FIFTY(s) TEN(s, 1) TEN(s, 2) TEN(s, 3) TEN(s, 4) TEN(s, 5)

FIFTY(S00)
FIFTY(S01)
FIFTY(S02)
FIFTY(S03)
FIFTY(S04)
FIFTY(S05)
FIFTY(S06)
FIFTY(S07)
FIFTY(S08)
FIFTY(S09)
