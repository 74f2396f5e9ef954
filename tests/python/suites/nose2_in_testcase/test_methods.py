# A nose2 -N suite without a configuration file whose nose2 features are all inside unittest.TestCase
# classes: parameters and generators as methods. unittest's loader would take each for one test (a
# generator method "passes" without running its checks, a parametrized one errors).
import unittest

from nose2.tools import params


class Ports(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.checked = []

    @params(80, 443)
    def test_port(self, port):
        self.checked.append(port)
        self.assertIn(port, (80, 443))

    def test_sequence(self):
        for i in range(3):
            yield self.check_in_order, i

    def check_in_order(self, i):
        self.checked.append(i)
        self.assertEqual(self.checked[-(i + 1):], list(range(i + 1)))
