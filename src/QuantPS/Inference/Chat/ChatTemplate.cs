using QuantPS.Gguf;

namespace QuantPS.Inference.Chat;

/// <summary>
/// A conversation formatter for one chat template family, as llama.cpp's built-in templates
/// write it (llm_chat_apply_template): no Jinja engine, but the exact text, whitespace and
/// special tokens of each family. Found from a model's tokenizer.chat_template by the same
/// rules llama.cpp uses (llm_chat_detect_template), or chosen by name.
/// </summary>
public sealed class ChatTemplate
{
    public const string MetadataKey = "tokenizer.chat_template";

    /// <summary>What llama.cpp uses when a model has no template.</summary>
    public const string DefaultName = "chatml";

    private static readonly (string Name, ChatTemplateFamily Family)[] Catalog =
    [
        ("chatml", ChatTemplateFamily.ChatMl), ("llama2", ChatTemplateFamily.Llama2), ("llama2-sys", ChatTemplateFamily.Llama2Sys),
        ("llama2-sys-bos", ChatTemplateFamily.Llama2SysBos), ("llama2-sys-strip", ChatTemplateFamily.Llama2SysStrip),
        ("mistral-v1", ChatTemplateFamily.MistralV1), ("mistral-v3", ChatTemplateFamily.MistralV3),
        ("mistral-v3-tekken", ChatTemplateFamily.MistralV3Tekken), ("mistral-v7", ChatTemplateFamily.MistralV7),
        ("mistral-v7-tekken", ChatTemplateFamily.MistralV7Tekken), ("phi3", ChatTemplateFamily.Phi3), ("phi4", ChatTemplateFamily.Phi4),
        ("falcon3", ChatTemplateFamily.Falcon3), ("zephyr", ChatTemplateFamily.Zephyr), ("monarch", ChatTemplateFamily.Monarch),
        ("gemma", ChatTemplateFamily.Gemma), ("orion", ChatTemplateFamily.Orion), ("openchat", ChatTemplateFamily.OpenChat),
        ("vicuna", ChatTemplateFamily.Vicuna), ("vicuna-orca", ChatTemplateFamily.VicunaOrca), ("deepseek", ChatTemplateFamily.Deepseek),
        ("deepseek2", ChatTemplateFamily.Deepseek2), ("deepseek3", ChatTemplateFamily.Deepseek3), ("deepseek-ocr", ChatTemplateFamily.DeepseekOcr),
        ("command-r", ChatTemplateFamily.CommandR), ("llama3", ChatTemplateFamily.Llama3), ("chatglm3", ChatTemplateFamily.ChatGlm3),
        ("chatglm4", ChatTemplateFamily.ChatGlm4), ("glmedge", ChatTemplateFamily.GlmEdge), ("minicpm", ChatTemplateFamily.MiniCpm),
        ("exaone3", ChatTemplateFamily.Exaone3), ("exaone4", ChatTemplateFamily.Exaone4), ("exaone-moe", ChatTemplateFamily.ExaoneMoe),
        ("rwkv-world", ChatTemplateFamily.RwkvWorld), ("granite", ChatTemplateFamily.Granite3), ("granite-4.0", ChatTemplateFamily.Granite40),
        ("granite-4.1", ChatTemplateFamily.Granite41), ("gigachat", ChatTemplateFamily.GigaChat), ("megrez", ChatTemplateFamily.Megrez),
        ("yandex", ChatTemplateFamily.Yandex), ("bailing", ChatTemplateFamily.Bailing), ("bailing-think", ChatTemplateFamily.BailingThink),
        ("bailing2", ChatTemplateFamily.Bailing2), ("llama4", ChatTemplateFamily.Llama4), ("smolvlm", ChatTemplateFamily.SmolVlm),
        ("hunyuan-moe", ChatTemplateFamily.HunyuanMoe), ("gpt-oss", ChatTemplateFamily.GptOss), ("hunyuan-dense", ChatTemplateFamily.HunyuanDense),
        ("hunyuan-vl", ChatTemplateFamily.HunyuanVl), ("kimi-k2", ChatTemplateFamily.KimiK2), ("seed_oss", ChatTemplateFamily.SeedOss),
        ("grok-2", ChatTemplateFamily.Grok2), ("pangu-embedded", ChatTemplateFamily.PanguEmbedded), ("solar-open", ChatTemplateFamily.SolarOpen),
        ("dots1", ChatTemplateFamily.Dots1), // llama.cpp detects this family but lists no name for it; ours
    ];

    private ChatTemplate(string name, ChatTemplateFamily family)
    {
        Name = name;
        Family = family;
    }

    /// <summary>llama.cpp's name for the template ("llama3", "chatml", "mistral-v7"...).</summary>
    public string Name { get; }

    internal ChatTemplateFamily Family { get; }

    /// <summary>Every name <see cref="FromName"/> accepts (llama.cpp's built-in templates), sorted.</summary>
    public static IReadOnlyList<string> BuiltInNames { get; } = Catalog.Select(c => c.Name).Order(StringComparer.Ordinal).ToArray();

    /// <summary>A built-in template by its llama.cpp name.</summary>
    public static ChatTemplate FromName(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return TryFromName(name)
            ?? throw new ChatTemplateException(ChatTemplateErrorKind.UnknownName,
                $"'{name}' is not a built-in chat template. Use one of: {string.Join(", ", BuiltInNames)}.", name);
    }

    /// <summary>
    /// The template for a template name or a model's Jinja text, by llama.cpp's detection rules.
    /// Throws when nothing matches, saying how to choose one by name.
    /// </summary>
    public static ChatTemplate Detect(string template)
    {
        ArgumentNullException.ThrowIfNull(template);
        if (TryDetect(template, out var detected))
        {
            return detected;
        }

        var shown = template.Length > 200 ? template[..200] + "…" : template;
        throw new ChatTemplateException(ChatTemplateErrorKind.Unrecognized,
            $"The chat template is not one of the families llama.cpp formats without a Jinja engine. Choose the family by name instead (ChatTemplate.FromName, or -ChatTemplate <name> on cmdlets); names: {string.Join(", ", BuiltInNames)}. Template starts: {shown}",
            shown);
    }

    public static bool TryDetect(string template, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out ChatTemplate? detected)
    {
        ArgumentNullException.ThrowIfNull(template);
        detected = TryFromName(template);
        if (detected is null && ChatTemplateDetector.Detect(template) is { } family)
        {
            detected = new ChatTemplate(Catalog.First(c => c.Family == family).Name, family);
        }

        return detected is not null;
    }

    /// <summary>
    /// The template of a model: <paramref name="overrideName"/> when given, else its
    /// tokenizer.chat_template (detected), else llama.cpp's fallback (mistral-v7-tekken for
    /// Mistral-Small-2503, which ships without one; chatml otherwise).
    /// </summary>
    public static ChatTemplate FromMetadata(GgufMetadata metadata, string? overrideName = null)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        if (!string.IsNullOrEmpty(overrideName))
        {
            return FromName(overrideName);
        }

        if (metadata.GetString(MetadataKey) is { } template)
        {
            return Detect(template);
        }

        var architecture = metadata.GetString("general.architecture");
        var isMistralSmall = metadata.GetString("tokenizer.ggml.pre") == "tekken"
            && architecture is not null && metadata.GetInteger(architecture + ".block_count") == 40;
        return FromName(isMistralSmall ? "mistral-v7-tekken" : DefaultName);
    }

    public static ChatTemplate FromModel(GgufModel model, string? overrideName = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        return FromMetadata(model.Metadata, overrideName);
    }

    /// <summary>
    /// The prompt text for a conversation. With <paramref name="addAssistantPrompt"/> it ends with
    /// what opens the assistant's reply (add_generation_prompt). Special tokens appear as text:
    /// tokenize the result with parse_special.
    /// </summary>
    public string Format(IReadOnlyList<ChatMessage> messages, bool addAssistantPrompt = true)
    {
        ArgumentNullException.ThrowIfNull(messages);
        for (var i = 0; i < messages.Count; i++)
        {
            if (messages[i] is null)
            {
                throw new ChatTemplateException(ChatTemplateErrorKind.InvalidMessage, $"Message {i} is null: every message needs a role and a content.");
            }
        }

        return ChatTemplateFormatter.Format(Family, messages, addAssistantPrompt);
    }

    /// <summary>As <see cref="Format(IReadOnlyList{ChatMessage}, bool)"/>, with a system prompt before the messages.</summary>
    public string Format(string? systemPrompt, IReadOnlyList<ChatMessage> messages, bool addAssistantPrompt = true)
    {
        ArgumentNullException.ThrowIfNull(messages);
        return string.IsNullOrEmpty(systemPrompt)
            ? Format(messages, addAssistantPrompt)
            : Format([ChatMessage.System(systemPrompt), .. messages], addAssistantPrompt);
    }

    public override string ToString() => Name;

    private static ChatTemplate? TryFromName(string name)
    {
        foreach (var (known, family) in Catalog)
        {
            if (known == name)
            {
                return new ChatTemplate(known, family);
            }
        }

        return null;
    }
}
