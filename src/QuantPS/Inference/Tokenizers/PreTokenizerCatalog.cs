namespace QuantPS.Inference.Tokenizers;

/// <summary>How a tokenizer.ggml.pre name changes a BPE vocabulary's defaults in llama.cpp.</summary>
[Flags]
internal enum PreTokenizerOptions
{
    None = 0,

    /// <summary>Detokenizing keeps " ," " ." " 's" as they are (clean_up_tokenization_spaces off).</summary>
    KeepSpaces = 1,

    /// <summary>A whole pre-token that is itself a vocabulary token is taken as is, before any merge.</summary>
    IgnoreMerges = 2,

    /// <summary>The model wants BOS unless tokenizer.ggml.add_bos_token says otherwise.</summary>
    AddBos = 4,

    /// <summary>Spaces are written as U+2581 in the vocabulary (SPM-style BPE) and raw UTF-8, not GPT-2 bytes.</summary>
    EscapeWhitespace = 8,

    /// <summary>The vocabulary has no usable BOS by default.</summary>
    NoBos = 16,

    /// <summary>A separator follows the text when special tokens are added (RoBERTa-style).</summary>
    AddSeparator = 32,

    /// <summary>The whitespace pre-tokenizer does not lowercase unless the normalizer key says so.</summary>
    NoLowercase = 64,
}

/// <summary>One pre-tokenizer: the regular expressions applied in turn, and whether words are byte-encoded.</summary>
internal sealed record PreTokenizerDefinition(string Type, string[] Patterns, bool ByteEncode = true);

/// <summary>
/// Every pre-tokenizer name llama.cpp accepts in tokenizer.ggml.pre, with its split patterns
/// (the regular expressions of each model's tokenizer.json, in llama.cpp's adapted form, so
/// that the hand-written fast paths are chosen for exactly the same patterns).
/// </summary>
internal static class PreTokenizerCatalog
{
    public const string Gpt2Pattern = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
    public const string Llama3Pattern = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    public const string Llama3CaseInsensitivePattern = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    public const string Qwen2Pattern = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    public const string Qwen35Pattern = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    public const string KimiK2Pattern = "\\p{Han}+";
    public const string AfmoeDigitsPattern = "\\p{AFMoE_digits}";
    public const string NewlineRunsPattern = "[^\\n]+|[\\n]+";
    public const string TinyAyaDigitsPattern = "\\d{1,3}(?=(?:\\d{3})*\\b)";

    private const string Gpt4oPattern = "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    private const string CasedWordsPattern = "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    private const string DeepseekV3MainPattern = "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+";
    private const string BloomPattern = " ?[^(\\s|.,!?…。，、।۔،)]+";

    private static readonly PreTokenizerDefinition Default = new("default",
        ["[\\p{P}\\$\\+<=>\\^~\\|]+", Gpt2Pattern, "\\p{N}+", "[0-9][0-9][0-9]"]);

    private static readonly PreTokenizerDefinition Gpt2 = new("gpt-2", [Gpt2Pattern]);
    private static readonly PreTokenizerDefinition Llama3 = new("llama3", [Llama3Pattern]);
    private static readonly PreTokenizerDefinition Qwen2 = new("qwen2", [Qwen2Pattern]);
    private static readonly PreTokenizerDefinition Starcoder = new("starcoder", ["\\p{N}", Gpt2Pattern]);
    private static readonly PreTokenizerDefinition Bloom = new("bloom", [BloomPattern]);
    private static readonly PreTokenizerDefinition Gpt4o = new("gpt-4o", [Gpt4oPattern]);
    private static readonly PreTokenizerDefinition NewlinesOnly = new("gemma4", [NewlineRunsPattern], ByteEncode: false);

    private static readonly PreTokenizerDefinition DeepseekV3 = new("deepseek-v3",
        ["\\p{N}{1,3}", "[一-龥぀-ゟ゠-ヿ]+", DeepseekV3MainPattern]);

    private static readonly Dictionary<string, (PreTokenizerDefinition Definition, PreTokenizerOptions Options)> ByName = Build();

    /// <summary>The names llama.cpp accepts, for messages.</summary>
    public static IReadOnlyCollection<string> Names => ByName.Keys;

    /// <summary>The pre-tokenizer for a tokenizer.ggml.pre value; null or empty means llama.cpp's "default".</summary>
    public static (PreTokenizerDefinition Definition, PreTokenizerOptions Options) Resolve(string? name)
    {
        if (string.IsNullOrEmpty(name))
        {
            return (Default, PreTokenizerOptions.None);
        }

        if (ByName.TryGetValue(name, out var entry))
        {
            return entry;
        }

        throw new TokenizerException(TokenizerErrorKind.UnknownPreTokenizer,
            $"Unknown pre-tokenizer '{name}' (tokenizer.ggml.pre). llama.cpp at the reference commit does not know it either, so this model's text cannot be split as its authors intended. Known names: {string.Join(", ", ByName.Keys.Order(StringComparer.Ordinal))}.",
            name);
    }

    private static Dictionary<string, (PreTokenizerDefinition, PreTokenizerOptions)> Build()
    {
        const PreTokenizerOptions keep = PreTokenizerOptions.KeepSpaces;
        var table = new Dictionary<string, (PreTokenizerDefinition, PreTokenizerOptions)>(StringComparer.Ordinal);

        void Add(PreTokenizerDefinition definition, PreTokenizerOptions options, params string[] names)
        {
            foreach (var name in names)
            {
                table.Add(name, (definition, options));
            }
        }

        Add(Default, PreTokenizerOptions.None, "default");
        Add(new("minicpm5", ["\\p{N}{1,3}", "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}+| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"]),
            PreTokenizerOptions.IgnoreMerges, "minicpm5");
        Add(Llama3, PreTokenizerOptions.IgnoreMerges | PreTokenizerOptions.AddBos,
            "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano");
        // The letter class is written with escapes: several of its characters (Greek with
        // oxia, the Ohm and Kelvin signs) would be changed by Unicode normalization of the source.
        // The letter class is written with escapes: some of its characters (Greek with oxia, the
        // Ohm and Kelvin signs) would be changed by Unicode normalization of this source file.
        Add(new("deepseek-llm", ["[\r\n]",
                "\\s?[A-Za-z\u00B5\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u01BA\u01BC-\u01BF\u01C4-\u0293\u0295-\u02AF\u0370-\u0373\u0376\u0377\u037B-\u037D\u037F\u0386\u0388-\u038A\u038C\u038E-\u03A1\u03A3-\u03F5\u03F7-\u0481\u048A-\u052F\u0531-\u0556\u10A0-\u10C5\u13A0-\u13F5\u13F8-\u13FD\u1C90-\u1CBA\u1CBD-\u1CBF\u1D00-\u1D2B\u1D6B-\u1D77\u1D79-\u1D9A\u1E00-\u1F15\u1F18-\u1F1D\u1F20-\u1F45\u1F48-\u1F4D\u1F50-\u1F57\u1F59\u1F5B\u1F5D\u1F5F-\u1F7D\u1F80-\u1FB4\u1FB6-\u1FBC\u1FBE\u1FC2-\u1FC4\u1FC6-\u1FCC\u1FD0-\u1FD3\u1FD6-\u1FDB\u1FE0-\u1FEC\u1FF2-\u1FF4\u1FF6-\u1FFC\u2102\u2107\u210A-\u2113\u2115\u2119-\u211D\u2124\u2126\u2128\u212A-\u212D\u212F-\u2134\u2139\u213C-\u213F\u2145-\u2149\u214E\u2183\u2184\u2C00-\u2C7B\u2C7E-\u2CE4\u2CEB-\u2CEE\u2CF2\u2CF3\uA640-\uA66D\uA680-\uA69B\uA722-\uA76F\uA771-\uA787\uA78B-\uA78E\uAB70-\uABBF\uFB00-\uFB06\uFB13-\uFB17\uFF21-\uFF3A\uFF41-\uFF5A\uD801\uDC00-\uD801\uDC4F\uD801\uDCB0-\uD801\uDCD3\uD801\uDCD8-\uD801\uDCFB\uD803\uDC80-\uD803\uDCB2\uD803\uDCC0-\uD803\uDCF2\uD806\uDCA0-\uD806\uDCDF\uD83A\uDD00-\uD83A\uDD43]+",
                "\\s?[!-/:-~！-／：-～‘-‟　-。]+", "\\s+$", "[一-龥ࠀ-一가-퟿]+", "\\p{N}+"]),
            keep, "deepseek-llm");
        Add(new("deepseek-coder", ["[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[一-龥ࠀ-一가-퟿]+", "\\p{N}"]), keep, "deepseek-coder");
        Add(DeepseekV3, keep, "deepseek-v3");
        Add(new("youtu", ["[가-힣ㄱ-ㆎ]+|[！…“”‘’—：；，、-〿︰-﹏]+|[ㄅ-ㄯ]+|[一-龥぀-ゟ゠-ヿ]+",
                "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"]),
            keep | PreTokenizerOptions.IgnoreMerges, "youtu");
        Add(new("falcon", ["[\\p{P}\\$\\+<=>\\^~\\|`]+", Gpt2Pattern, "[0-9][0-9][0-9]"]), PreTokenizerOptions.None, "falcon");
        Add(Gpt2 with { Type = "mpt" }, PreTokenizerOptions.None, "mpt");
        Add(Starcoder, PreTokenizerOptions.None, "starcoder", "refact", "codeshell", "exaone", "minerva-7b", "mellum2");
        Add(Starcoder, keep, "command-r", "smollm");
        Add(Gpt2, PreTokenizerOptions.None,
            "gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum", "modern-bert", "exaone4", "olmo", "jais");
        Add(Gpt2, PreTokenizerOptions.AddSeparator, "jina-v1-en", "jina-v2-code", "roberta-bpe");
        Add(Gpt2, keep, "trillion", "granite-docling");
        Add(new("jais-2", ["(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s{512}(?!\\S)|\\s{256}(?!\\S)|\\s{128}(?!\\S)|\\s{64}(?!\\S)|\\s{32}(?!\\S)|\\s{16}(?!\\S)|\\s{8}(?!\\S)|\\s{4}(?!\\S)|\\s{1,2}(?!\\S)|\\s{1}"]),
            PreTokenizerOptions.None, "jais-2");
        Add(NewlinesOnly, PreTokenizerOptions.EscapeWhitespace, "gemma4", "granite-embed-multi-311m");
        Add(NewlinesOnly with { Type = "sarvam-moe" }, PreTokenizerOptions.EscapeWhitespace | keep, "sarvam-moe");
        Add(new("whitespace", ["\\S+"], ByteEncode: false), PreTokenizerOptions.NoLowercase, "whitespace");
        Add(Qwen2, keep, "qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "hunyuan", "grok-2", "solar-open");
        Add(Qwen2, PreTokenizerOptions.None, "megrez", "stablelm2");
        Add(new("qwen35", [Qwen35Pattern]), keep, "qwen35");
        Add(Llama3, PreTokenizerOptions.None, "dbrx", "smaug-bpe");
        Add(Bloom, keep, "poro-chat");
        Add(Bloom, PreTokenizerOptions.None, "bloom", "gpt3-finnish");
        Add(Llama3, PreTokenizerOptions.NoBos, "glm4", "chatglm-bpe");
        Add(new("viking", [BloomPattern, "\\p{N}"]), keep, "viking");
        Add(new("tekken", ["[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"]),
            keep | PreTokenizerOptions.IgnoreMerges | PreTokenizerOptions.AddBos, "tekken");
        Add(new("exaone-moe", ["(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?(?:\\p{L}\\p{M}*(?: \\p{L}\\p{M}*)*)+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]?|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+"]),
            PreTokenizerOptions.None, "exaone-moe");
        Add(new("chameleon", ["<sentinel:[0-9]+>", "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z", "([\\t\\n]|    |  )", "\\p{N}",
                "[\\p{P}!-/:-@\\[-`{-~]", "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"]),
            keep | PreTokenizerOptions.AddBos, "chameleon");
        Add(Gpt4o, keep, "gpt-4o", "llama4", "kanana2", "talkie", "minimax-m2");
        Add(new("granite-embed-multi-97m", ["[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}\\p{M}])([^a-z]))*((?=[\\p{L}\\p{M}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}\\p{M}])([^a-z]))+((?=[\\p{L}\\p{M}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"]),
            keep | PreTokenizerOptions.IgnoreMerges, "granite-embed-multi-97m");
        Add(new("tiny_aya", [TinyAyaDigitsPattern, CasedWordsPattern]), keep, "tiny_aya", "cohere2moe");
        Add(new("superbpe", ["\\p{N}+", "(?=(\\d{3})+(?!\\d))"]), keep, "superbpe");
        Add(new("bailingmoe", ["'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+"]),
            keep, "bailingmoe", "bailingmoe2", "llada-moe");
        Add(new("seed-coder", ["(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"]),
            keep, "seed-coder");
        Add(DeepseekV3 with { Type = "hunyuan-dense" }, keep, "hunyuan-dense", "joyai-llm");
        Add(new("kimi-k2", [KimiK2Pattern]), keep, "kimi-k2");
        Add(new("afmoe", [AfmoeDigitsPattern, "[一-鿿㐀-䶿豈-﫿぀-ゟ゠-ヿ･-ﾟ⼀-⿟เ-๿຀-໿ក-៿က-႟ꩠ-ꩿꧠ-꧿가-힯ᄀ-ᇿ]+",
                "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"]),
            keep, "afmoe");
        Add(new("laguna", [NewlineRunsPattern, Qwen2Pattern]), keep, "laguna");
        return table;
    }
}
