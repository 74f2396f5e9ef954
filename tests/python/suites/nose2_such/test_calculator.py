from nose2.tools import such

with such.A("calculator") as it:

    @it.has_setup
    def setup():
        it.memory = [2]

    @it.should("add")
    def test_add(case):
        it.memory.append(4)
        case.assertEqual(sum(it.memory), 6)

    with it.having("a negative number"):

        @it.has_test_setup
        def test_setup(case):
            it.negative = -1

        @it.should("subtract, after adding")
        def test_sub(case):
            case.assertEqual(sum(it.memory) + it.negative, 5)

it.createTests(globals())


def test_plain():
    assert True
