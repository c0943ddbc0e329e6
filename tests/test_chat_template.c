/* test_chat_template.c — each chat template formats a conversation exactly as its models expect. */
#include "test.h"

#include "cli/chat_template.c"   /* a command-line module: compiled into the test directly */

static const chat_message conversation[] = {
    {"system", "Be brief."},
    {"user", "Hi"},
    {"assistant", "Hello."},
    {"user", "Name a colour."},
};
enum { N_MESSAGES = sizeof conversation / sizeof conversation[0] };

static void check_format(chat_template t, const char *expected)
{
    char buf[512];
    long n = chat_format(t, conversation, N_MESSAGES, buf, sizeof buf);
    CHECKF(n == (long)strlen(expected), "%s: length %ld, expected %zu: [%.200s]", chat_template_name(t), n,
           strlen(expected), buf);
    CHECKF(!strcmp(buf, expected), "%s: got [%.200s]", chat_template_name(t), buf);
}

static void test_chat_llama2_wraps_the_system_text_in_the_first_turn(void)
{
    check_format(CHAT_LLAMA2, "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello. </s>"
                              "<s>[INST] Name a colour. [/INST]");
}

static void test_chat_mistral_writes_bos_once(void)
{
    check_format(CHAT_MISTRAL, "<s>[INST] Be brief.\n\nHi [/INST]Hello.</s>[INST] Name a colour. [/INST]");
}

static void test_chat_zephyr_closes_turns_with_eos(void)
{
    check_format(CHAT_ZEPHYR, "<|system|>\nBe brief.</s>\n<|user|>\nHi</s>\n<|assistant|>\nHello.</s>\n"
                              "<|user|>\nName a colour.</s>\n<|assistant|>\n");
}

static void test_chat_chatml_names_roles_after_im_start(void)
{
    check_format(CHAT_CHATML, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                              "<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nName a colour."
                              "<|im_end|>\n<|im_start|>assistant\n");
}

static void test_chat_phi3_closes_turns_with_end(void)
{
    check_format(CHAT_PHI3, "<|system|>\nBe brief.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\nHello.<|end|>\n"
                            "<|user|>\nName a colour.<|end|>\n<|assistant|>\n");
}

/* Fragments of the Jinja sources such files carry, reduced to the markers that tell them apart. */
static void test_chat_template_detected_from_its_markers(void)
{
    CHECK(chat_template_detect("{{ bos_token + '[INST] ' + '<<SYS>>\\n' + content }}") == CHAT_LLAMA2);
    CHECK(chat_template_detect("{{ bos_token }}{% for m in messages %}{{ '[INST] ' + m['content'] + ' [/INST]' }}")
          == CHAT_MISTRAL);
    CHECK(chat_template_detect("{% if m['role'] == 'user' %}{{ '<|user|>\\n' + m['content'] + eos_token }}")
          == CHAT_ZEPHYR);
    CHECK(chat_template_detect("{{'<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>'}}")
          == CHAT_CHATML);
    CHECK(chat_template_detect("{{'<|user|>' + '\\n' + m['content'] + '<|end|>' + '\\n'}}") == CHAT_PHI3);
    CHECK(chat_template_detect("{{ messages }}") == CHAT_UNKNOWN);
    CHECK(chat_template_detect(NULL) == CHAT_UNKNOWN);
}

static void test_chat_template_names_round_trip(void)
{
    for (int t = 0; t < CHAT_TEMPLATE_COUNT; t++) {
        CHECK(chat_template_by_name(chat_template_name((chat_template)t)) == t);
        CHECK(strstr(chat_template_names(), chat_template_name((chat_template)t)));
    }
    CHECK(chat_template_by_name("jinja") == CHAT_UNKNOWN);
    CHECK(chat_template_by_name(NULL) == CHAT_UNKNOWN);
}

static void test_chat_format_reports_the_length_a_short_buffer_needs(void)
{
    char full[512], small[10];
    long need = chat_format(CHAT_CHATML, conversation, N_MESSAGES, full, sizeof full);
    CHECK(chat_format(CHAT_CHATML, conversation, N_MESSAGES, small, sizeof small) == need);
    CHECK(strlen(small) == sizeof small - 1 && !strncmp(small, full, sizeof small - 1));
    CHECK(chat_format(CHAT_CHATML, conversation, N_MESSAGES, NULL, 0) == need);
}

static void test_chat_format_refuses_unknown_roles_and_templates(void)
{
    const chat_message bad[] = {{"tool", "x"}};
    char buf[64];
    CHECK(chat_format(CHAT_ZEPHYR, bad, 1, buf, sizeof buf) == -1);
    CHECK(chat_format(CHAT_UNKNOWN, conversation, N_MESSAGES, buf, sizeof buf) == -1);
    CHECK(chat_format(CHAT_TEMPLATE_COUNT, conversation, N_MESSAGES, buf, sizeof buf) == -1);
}

int main(void)
{
    RUN(test_chat_llama2_wraps_the_system_text_in_the_first_turn);
    RUN(test_chat_mistral_writes_bos_once);
    RUN(test_chat_zephyr_closes_turns_with_eos);
    RUN(test_chat_chatml_names_roles_after_im_start);
    RUN(test_chat_phi3_closes_turns_with_end);
    RUN(test_chat_template_detected_from_its_markers);
    RUN(test_chat_template_names_round_trip);
    RUN(test_chat_format_reports_the_length_a_short_buffer_needs);
    RUN(test_chat_format_refuses_unknown_roles_and_templates);
    TEST_EXIT();
}
