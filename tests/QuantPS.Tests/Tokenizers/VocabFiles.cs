using QuantPS.Gguf;
using QuantPS.Inference.Tokenizers;
using QuantPS.TestSupport;
using Xunit;

namespace QuantPS.Tests.Tokenizers;

/// <summary>The vocabularies and test texts of ../shared (llama.cpp's tokenizer tests and goldens).</summary>
internal static class VocabFiles
{
    public const string Separator = "\n__ggml_vocab_test__\n";

    public static string VocabPath(string name) => $"models/llama.cpp-vocab/ggml-vocab-{name}.gguf";

    /// <summary>A tokenizer for a shared model file (the file is closed again: the tokenizer keeps what it needs).</summary>
    public static LlmTokenizer Load(string relativePath)
    {
        using var model = GgufModel.Open(SharedData.File(relativePath));
        return LlmTokenizer.FromModel(model);
    }

    /// <summary>The .inp texts with the .out ids llama.cpp gave for each (add_special and parse_special off).</summary>
    public static IReadOnlyList<(string Text, int[] Ids)> Cases(string name)
    {
        var inp = File.ReadAllText(SharedData.File(VocabPath(name) + ".inp"));
        var outLines = File.ReadAllText(SharedData.File(VocabPath(name) + ".out")).Split('\n');
        var texts = inp.Split(Separator);
        Assert.Equal(string.Empty, texts[^1]); // the file ends with the separator
        var cases = new List<(string, int[])>();
        for (var i = 0; i < texts.Length - 1; i++)
        {
            cases.Add((texts[i], ParseIds(outLines[i])));
        }

        return cases;
    }

    public static int[] ParseIds(string text) =>
        text.Split([' ', '\n', '\r'], StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray();

    public static string Show(string text) => text.Replace("\n", "\\n", StringComparison.Ordinal).Replace("\t", "\\t", StringComparison.Ordinal);
}
