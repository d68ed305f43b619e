using QuantPS.Gguf;
using QuantPS.Inference.Chat;
using QuantPS.TestSupport;
using Xunit;

namespace QuantPS.Tests.Chat;

/// <summary>
/// The conversation of llama.cpp's tests/test-chat-template.cpp through every template there:
/// the family found from the Jinja text must format it exactly as llama_chat_apply_template does.
/// </summary>
public sealed class ChatTemplateTests
{
    // The conversation llama.cpp's test formats (note the spaces around the second answer).
    private static readonly ChatMessage[] Conversation =
    [
        new("system", "You are a helpful assistant"),
        new("user", "Hello"),
        new("assistant", "Hi there"),
        new("user", "Who are you"),
        new("assistant", "   I am an assistant   "),
        new("user", "Another question"),
    ];

    public static readonly TheoryData<string> CaseNames = new(LlamaCppChatTemplateCases.All.Select(c => c.Name));

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Each_template_formats_the_conversation_as_llama_cpp_does(string name)
    {
        var testCase = LlamaCppChatTemplateCases.All.Single(c => c.Name == name);
        var messages = Conversation.Concat(testCase.ExtraMessages.Select(m => new ChatMessage(m.Role, m.Content))).ToArray();

        var template = ChatTemplate.Detect(testCase.Template);

        Assert.Equal(testCase.Expected, template.Format(messages, addAssistantPrompt: true));
    }

    [Fact]
    public void The_templates_of_llama_cpps_test_are_recognized_as_their_families()
    {
        var families = LlamaCppChatTemplateCases.All.Select(c => ChatTemplate.Detect(c.Template).Name).Distinct().Order(StringComparer.Ordinal);

        string[] expected =
        [
            "bailing", "chatglm3", "chatglm4", "chatml", "command-r", "deepseek", "deepseek2", "gemma", "gigachat", "glmedge", "granite",
            "granite-4.0", "granite-4.1", "llama2", "llama2-sys-bos", "llama2-sys-strip", "llama3", "megrez", "minicpm", "mistral-v1",
            "mistral-v3", "mistral-v3-tekken", "mistral-v7", "monarch", "openchat", "orion", "phi3", "phi4", "seed_oss", "vicuna",
            "vicuna-orca", "yandex",
        ];
        Assert.Equal(expected, families);
    }

    [Fact]
    public void An_unrecognized_template_says_how_to_choose_one_by_name()
    {
        var error = Assert.Throws<ChatTemplateException>(() => ChatTemplate.Detect("INVALID TEMPLATE"));

        Assert.Equal("ChatTemplateUnrecognized", error.ErrorId);
        Assert.Contains("by name", error.Message, StringComparison.Ordinal);
        Assert.Contains("llama3", error.Message, StringComparison.Ordinal);
        Assert.False(ChatTemplate.TryDetect("INVALID TEMPLATE", out _));
    }

    [Fact]
    public void A_name_is_a_template_and_an_unknown_name_is_an_error()
    {
        Assert.Equal("llama3", ChatTemplate.Detect("llama3").Name);
        Assert.Equal("mistral-v7-tekken", ChatTemplate.FromName("mistral-v7-tekken").Name);

        var error = Assert.Throws<ChatTemplateException>(() => ChatTemplate.FromName("llama-5"));
        Assert.Equal(ChatTemplateErrorKind.UnknownName, error.Kind);
        Assert.Contains("chatml", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_built_in_template_formats_a_conversation()
    {
        foreach (var name in ChatTemplate.BuiltInNames)
        {
            var text = ChatTemplate.FromName(name).Format(Conversation, addAssistantPrompt: true);
            Assert.Contains("Another question", text, StringComparison.Ordinal);
        }

        Assert.True(ChatTemplate.BuiltInNames.Count >= 55);
    }

    [Theory]
    [InlineData("chatml", "<|im_start|>user\nHi<|im_end|>\n", "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")]
    [InlineData("llama3", "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>", "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")]
    [InlineData("gemma", "<start_of_turn>user\nHi<end_of_turn>\n", "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n")]
    [InlineData("phi4", "<|im_start|>user<|im_sep|>Hi<|im_end|>", "<|im_start|>user<|im_sep|>Hi<|im_end|><|im_start|>assistant<|im_sep|>")]
    [InlineData("gpt-oss", "<|start|>user<|message|>Hi<|end|>", "<|start|>user<|message|>Hi<|end|><|start|>assistant")]
    [InlineData("llama4", "<|header_start|>user<|header_end|>\n\nHi<|eot|>", "<|header_start|>user<|header_end|>\n\nHi<|eot|><|header_start|>assistant<|header_end|>\n\n")]
    [InlineData("kimi-k2", "<|im_user|>user<|im_middle|>Hi<|im_end|>", "<|im_user|>user<|im_middle|>Hi<|im_end|><|im_assistant|>assistant<|im_middle|>")]
    [InlineData("mistral-v7", "[INST] Hi[/INST]", "[INST] Hi[/INST]")]
    [InlineData("deepseek3", "<｜User｜>Hi", "<｜User｜>Hi<｜Assistant｜>")]
    public void The_assistant_prompt_is_added_only_when_asked(string name, string without, string with)
    {
        var template = ChatTemplate.FromName(name);

        Assert.Equal(without, template.Format([ChatMessage.User("Hi")], addAssistantPrompt: false));
        Assert.Equal(with, template.Format([ChatMessage.User("Hi")], addAssistantPrompt: true));
    }

    [Fact]
    public void A_system_prompt_comes_first()
    {
        var text = ChatTemplate.FromName("chatml").Format("Be brief.", [ChatMessage.User("Hi")]);

        Assert.Equal("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", text);
    }

    [Fact]
    public void A_model_template_is_detected_and_can_be_overridden_by_name()
    {
        using var model = GgufModel.Open(SharedData.File("models/llama.cpp-vocab/ggml-vocab-phi-3.gguf"));

        Assert.Equal("phi3", ChatTemplate.FromModel(model).Name);
        Assert.Equal("chatml", ChatTemplate.FromModel(model, overrideName: "chatml").Name);
    }

    [Fact]
    public void A_model_without_a_template_gets_llama_cpps_chatml()
    {
        var metadata = new GgufMetadata([GgufMetadataEntry.Of("general.architecture", "llama")]);

        Assert.Equal("chatml", ChatTemplate.FromMetadata(metadata).Name);
    }

    [Fact]
    public void Mistral_small_without_a_template_gets_v7_tekken_as_in_llama_cpp()
    {
        var metadata = new GgufMetadata(
        [
            GgufMetadataEntry.Of("general.architecture", "llama"),
            GgufMetadataEntry.Of("llama.block_count", 40u),
            GgufMetadataEntry.Of("tokenizer.ggml.pre", "tekken"),
        ]);

        Assert.Equal("mistral-v7-tekken", ChatTemplate.FromMetadata(metadata).Name);
    }

    [Fact]
    public void Messages_come_from_dictionaries_with_role_and_content()
    {
        var message = new ChatMessage(new System.Collections.Hashtable { ["Role"] = "user", ["content"] = "Hi" });

        Assert.Equal(ChatMessage.User("Hi"), message);
        var error = Assert.Throws<ChatTemplateException>(() => new ChatMessage(new System.Collections.Hashtable { ["role"] = "user" }));
        Assert.Equal("ChatTemplateInvalidMessage", error.ErrorId);
        Assert.Contains("'content'", error.Message, StringComparison.Ordinal);
    }
}
