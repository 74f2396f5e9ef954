import logging
import unittest

import calc


class TestCalc(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.base = 10

    def test_add(self):
        logging.getLogger(__name__).info("adding")
        self.assertEqual(calc.add(self.base, 1), 11)

    def test_add_negative(self):
        self.assertEqual(calc.add(self.base, -1), 9)


def test_function():
    assert calc.add(1, 1) == 2


def test_generator():
    for a in range(2):
        yield check_add, a


def check_add(a):
    assert calc.add(a, 0) == a
