using QuantPS.TestSupport;
using Xunit;

namespace QuantPS.Tests.Tokenizers;

/// <summary>
/// ../shared/golden/tokenize: llama-tokenize's ids for the eval text, with the special tokens the
/// model asks for (BOS for SentencePiece, [CLS]…[SEP] for BERT, nothing for GPT-2 style) and without.
/// </summary>
public sealed class GoldenEvalTokenizeTests
{
    private static readonly (string Golden, string Model)[] All =
    [
        ("stories260K", "models/tinyllamas-stories260K/stories260K.gguf"),
        ("llama-2-tiny-random", "models/ollama/llama-2-tiny-random.gguf"),
        ("ggml-vocab-baichuan", VocabFiles.VocabPath("baichuan")),
        ("ggml-vocab-bert-bge", VocabFiles.VocabPath("bert-bge")),
        ("ggml-vocab-deepseek-coder", VocabFiles.VocabPath("deepseek-coder")),
        ("ggml-vocab-gpt-2", VocabFiles.VocabPath("gpt-2")),
        ("ggml-vocab-gpt-neox", VocabFiles.VocabPath("gpt-neox")),
        ("ggml-vocab-llama-spm", VocabFiles.VocabPath("llama-spm")),
        ("ggml-vocab-mpt", VocabFiles.VocabPath("mpt")),
        ("ggml-vocab-phi-3", VocabFiles.VocabPath("phi-3")),
        ("ggml-vocab-refact", VocabFiles.VocabPath("refact")),
    ];

    public static readonly TheoryData<string, string> Vocabularies = new(All);

    // BERT is left out: its normalization (case, accents, spacing) is lossy by design.
    public static readonly TheoryData<string, string> LosslessVocabularies = new(All.Where(v => !v.Golden.Contains("bert", StringComparison.Ordinal)));

    [Theory]
    [MemberData(nameof(Vocabularies))]
    public void Eval_text_gives_llama_tokenizes_ids_with_and_without_bos(string golden, string model)
    {
        var tokenizer = VocabFiles.Load(model);
        var text = File.ReadAllText(SharedData.File("golden/text/eval.txt"));

        foreach (var (suffix, addSpecial) in new[] { ("no-bos", false), ("with-bos", tokenizer.AddBos) })
        {
            var expected = VocabFiles.ParseIds(File.ReadAllText(SharedData.File($"golden/tokenize/{golden}.eval.{suffix}.txt")));
            var actual = tokenizer.Encode(text, addSpecial, parseSpecial: false);

            Assert.True(expected.SequenceEqual(actual),
                $"{golden} {suffix}: expected {expected.Length} ids, got {actual.Length}; first difference at {FirstDifference(expected, actual)}");
        }
    }

    [Theory]
    [MemberData(nameof(LosslessVocabularies))]
    public void Eval_text_decodes_back(string golden, string model)
    {
        var tokenizer = VocabFiles.Load(model);
        var text = File.ReadAllText(SharedData.File("golden/text/eval.txt"));
        var ids = VocabFiles.ParseIds(File.ReadAllText(SharedData.File($"golden/tokenize/{golden}.eval.no-bos.txt")));
        var decoded = tokenizer.Decode(ids);

        if (tokenizer.Kind == Inference.Tokenizers.TokenizerKind.BytePairEncoding && golden != "ggml-vocab-deepseek-coder")
        {
            Assert.Equal(CleanUp(text), decoded); // clean_up_tokenization_spaces
        }
        else
        {
            Assert.Equal(text, decoded);
        }
    }

    private static string CleanUp(string text)
    {
        foreach (var p in new[] { " ?", " !", " .", " ," })
        {
            text = text.Replace(p, p[1..], StringComparison.Ordinal);
        }

        return text.Replace(" 's", "'s", StringComparison.Ordinal).Replace(" 'm", "'m", StringComparison.Ordinal)
            .Replace(" 're", "'re", StringComparison.Ordinal).Replace(" 've", "'ve", StringComparison.Ordinal);
    }

    private static int FirstDifference(int[] expected, int[] actual)
    {
        var n = Math.Min(expected.Length, actual.Length);
        for (var i = 0; i < n; i++)
        {
            if (expected[i] != actual[i])
            {
                return i;
            }
        }

        return n;
    }
}
