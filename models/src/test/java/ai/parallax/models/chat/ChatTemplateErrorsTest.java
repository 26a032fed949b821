package ai.parallax.models.chat;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Failures are loud and located: syntax errors, unsupported features, Python runtime errors, raise_exception. */
class ChatTemplateErrorsTest {

    private static TemplateException renderError(String template, Map<String, Object> variables) {
        return catchThrowableOfType(TemplateException.class,
                () -> ChatTemplate.of(template, Map.of()).render(List.of(), null, false, variables));
    }

    private static TemplateException parseError(String template) {
        return catchThrowableOfType(TemplateException.class, () -> ChatTemplate.of(template, Map.of()));
    }

    @Test
    void syntaxErrorGivesLineAndColumn() {
        TemplateException e = parseError("line one\n{% if x %}\n  {{ x + }}\n{% endif %}");

        assertThat(e.line()).isEqualTo(3);
        assertThat(e.column()).isEqualTo(10);
        assertThat(e.getMessage()).isEqualTo("line 3, column 10: unexpected '}}'");
    }

    @Test
    void unclosedBlockNamesTheMissingEndTag() {
        TemplateException e = parseError("{% for m in messages %}\n{{ m }}\n");

        assertThat(e.line()).isEqualTo(1);
        assertThat(e.getMessage()).contains("'endfor'").contains("never closed");
    }

    @Test
    void unknownFilterIsRejectedWithItsLocation() {
        TemplateException e = renderError("ok\n  {{ 'x'|frobnicate }}", Map.of());

        assertThat(e.getMessage()).isEqualTo("line 2, column 10: filter 'frobnicate' is not supported");
    }

    @Test
    void unknownTestAndMethodAreRejected() {
        assertThat(renderError("{{ 1 is prime }}", Map.of()).getMessage())
                .isEqualTo("line 1, column 9: test 'prime' is not supported");
        assertThat(renderError("{{ 'abc'.expandtabs() }}", Map.of()).getMessage())
                .endsWith("str method 'expandtabs' is not supported");
    }

    @Test
    void unknownTagIsASyntaxError() {
        assertThat(parseError("a\n{% frob %}").getMessage()).isEqualTo("line 2, column 4: unknown tag 'frob'");
        assertThat(parseError("{% do x %}").getMessage()).contains("tag 'do' is not supported");
        assertThat(parseError("{% break %}").getMessage()).contains("'break' outside of a for loop");
    }

    @Test
    void raiseExceptionThrowsTheTemplatesMessage() {
        String template = "{% for m in messages %}\n{% if m.role not in ['user', 'assistant'] %}"
                + "{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}";
        ChatTemplate chat = ChatTemplate.of(template, Map.of());

        TemplateException e = catchThrowableOfType(TemplateException.class,
                () -> chat.render(List.of(Map.of("role", "tool", "content", "x")), null, false, Map.of()));

        assertThat(e.getMessage()).isEqualTo("Only user and assistant roles are supported!");
        assertThat(e.raisedByTemplate()).isTrue();
        assertThat(e.line()).isEqualTo(2);
    }

    @Test
    void attributeOfUndefinedFailsButPrintingUndefinedDoesNot() {
        assertThat(renderError("{{ missing.attr }}", Map.of()).getMessage()).endsWith("'missing' is undefined");
        assertThat(renderError("{{ d.a.b }}", Map.of("d", Map.of())).getMessage())
                .endsWith("'dict object' has no attribute 'a'");
        assertThat(ChatTemplate.of("[{{ missing }}{{ d.a }}]", Map.of()).render(List.of(), null, false, Map.of("d", Map.of())))
                .isEqualTo("[]");
    }

    @Test
    void pythonTypeErrorsAreReported() {
        assertThat(renderError("{{ 'a' + 1 }}", Map.of()).getMessage())
                .isEqualTo("line 1, column 8: unsupported operand type(s) for +: 'str' and 'int'");
        assertThat(renderError("{{ 1 < 'a' }}", Map.of()).getMessage())
                .endsWith("'<' not supported between instances of 'int' and 'str'");
        assertThat(renderError("{% for x in none %}{% endfor %}", Map.of()).getMessage())
                .endsWith("'NoneType' object is not iterable");
        assertThat(renderError("{{ -xs|length }}", Map.of("xs", List.of(1))).getMessage())
                .endsWith("bad operand type for unary -: 'list'");
        assertThat(renderError("{{ 1 // 0 }}", Map.of()).getMessage()).endsWith("integer division or modulo by zero");
        assertThat(renderError("{{ {'a': 1}|tojson }}{{ x|tojson }}", Map.of()).getMessage())
                .endsWith("Object of type Undefined is not JSON serializable");
    }

    @Test
    void mutatingMethodsAreRefusedAsInTransformersSandbox() {
        TemplateException e = renderError("{% set _ = xs.append(4) %}", Map.of("xs", List.of(1)));

        assertThat(e.getMessage()).contains("access to attribute 'append' of 'list' object is unsafe");
    }

    @Test
    void badArgumentsToMethodsAndFiltersAreNamed() {
        assertThat(renderError("{{ 'a'.strip(1) }}", Map.of()).getMessage())
                .endsWith("str.strip() argument 'chars' must be str or None, not int");
        assertThat(renderError("{{ [1]|join(',', sep=1) }}", Map.of()).getMessage())
                .endsWith("filter join() got an unexpected keyword argument 'sep'");
        assertThat(renderError("{{ 'a'.split('') }}", Map.of()).getMessage()).endsWith("empty separator");
    }

    @Test
    void kwargsMayNotReplaceTheConversation() {
        assertThatThrownBy(() -> ChatTemplate.of("x", Map.of()).render(List.of(), null, false, Map.of("messages", List.of())))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("'messages'");
    }
}
