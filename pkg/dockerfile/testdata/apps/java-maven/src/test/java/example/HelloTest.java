package example;

import static org.junit.Assert.assertEquals;

import java.net.URI;
import org.junit.Test;

public class HelloTest {
    @Test
    public void greetsTheWorldByDefault() {
        assertEquals("hello, world\n", Hello.greet(URI.create("/")));
    }

    @Test
    public void greetsByName() {
        assertEquals("hello, slipway\n", Hello.greet(URI.create("/?name=slipway")));
    }
}
