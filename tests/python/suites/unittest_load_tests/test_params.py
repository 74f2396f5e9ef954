# The load_tests protocol as unittest suites use it for parameters: one TestCase method, an instance per
# value, each with the same id. No name loads such a test with its value.
import unittest


class Port(unittest.TestCase):
    def __init__(self, methodName="runTest", port=None):
        super().__init__(methodName)
        self.port = port

    def test_port_is_valid(self):
        self.assertIsNotNone(self.port)
        self.assertTrue(0 < self.port < 65536)


class Plain(unittest.TestCase):
    def test_plain(self):
        pass


def load_tests(loader, tests, pattern):
    suite = unittest.TestSuite()
    for port in (80, 443, 8080):
        suite.addTest(Port("test_port_is_valid", port=port))
    suite.addTests(unittest.defaultTestLoader.loadTestsFromTestCase(Plain))  # nose2's loader has no such method
    return suite
