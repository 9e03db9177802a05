import unittest

from app import greet


class GreetTest(unittest.TestCase):
    def test_default(self):
        self.assertEqual(greet("/"), "hello, world\n")

    def test_name(self):
        self.assertEqual(greet("/?name=slipway"), "hello, slipway\n")


if __name__ == "__main__":
    unittest.main()
