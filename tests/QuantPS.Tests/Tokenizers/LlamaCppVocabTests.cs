using QuantPS.Inference.Tokenizers;
using Xunit;

namespace QuantPS.Tests.Tokenizers;

/// <summary>
/// Every test text of llama.cpp's tokenizer tests, for every vocabulary that has them: the ids
/// must equal llama.cpp's exactly (add_special and parse_special off, as test-tokenizer-0).
/// </summary>
public sealed class LlamaCppVocabTests
{
    public static readonly TheoryData<string> VocabulariesWithCases = new("llama-spm", "phi-3", "gpt-2", "mpt", "refact", "deepseek-coder", "bert-bge");

    [Theory]
    [MemberData(nameof(VocabulariesWithCases))]
    public void Every_case_gives_llama_cpps_ids(string vocabulary)
    {
        var tokenizer = VocabFiles.Load(VocabFiles.VocabPath(vocabulary));
        var cases = VocabFiles.Cases(vocabulary);
        var failures = new List<string>();
        for (var i = 0; i < cases.Count; i++)
        {
            var (text, expected) = cases[i];
            var actual = tokenizer.Encode(text, addSpecial: false, parseSpecial: false);
            if (!actual.SequenceEqual(expected))
            {
                failures.Add($"case {i} '{VocabFiles.Show(text)}': expected [{string.Join(' ', expected)}], got [{string.Join(' ', actual)}]");
            }
        }

        Assert.Equal(46, cases.Count);
        Assert.True(failures.Count == 0, $"{failures.Count}/{cases.Count} cases differ:\n" + string.Join('\n', failures));
    }

    // These vocabularies give the text back exactly (no clean-up of spaces, no normalization).
    [Theory]
    [InlineData("llama-spm")]
    [InlineData("phi-3")]
    [InlineData("deepseek-coder")]
    public void Decoding_gives_every_case_back(string vocabulary)
    {
        var tokenizer = VocabFiles.Load(VocabFiles.VocabPath(vocabulary));
        foreach (var (text, ids) in VocabFiles.Cases(vocabulary))
        {
            Assert.Equal(text, tokenizer.Decode(ids));
        }
    }

    // GPT-2 style vocabularies clean up " ?" " !" " ." " ," and " 's"-like spaces when decoding, as
    // Hugging Face's clean_up_tokenization_spaces and llama.cpp do; every other text comes back.
    [Theory]
    [InlineData("gpt-2")]
    [InlineData("mpt")]
    [InlineData("refact")]
    public void Decoding_gives_the_text_back_up_to_the_clean_up_of_spaces(string vocabulary)
    {
        var tokenizer = VocabFiles.Load(VocabFiles.VocabPath(vocabulary));
        foreach (var (text, ids) in VocabFiles.Cases(vocabulary))
        {
            var decoded = tokenizer.Decode(ids);
            if (IsTouchedByCleanUp(text))
            {
                Assert.NotEqual(text, decoded);
                Assert.Equal(text.Replace(" ?", "?", StringComparison.Ordinal), decoded.Replace(" ?", "?", StringComparison.Ordinal));
            }
            else
            {
                Assert.Equal(text, decoded);
            }
        }
    }

    [Fact]
    public void Gpt2_decoding_drops_the_space_before_a_question_mark_as_llama_cpp_does()
    {
        var tokenizer = VocabFiles.Load(VocabFiles.VocabPath("gpt-2"));
        var ids = tokenizer.Encode("Hello, y'all! How are you 😁 ?", addSpecial: false);

        Assert.Equal("Hello, y'all! How are you 😁?", tokenizer.Decode(ids));
    }

    [Fact]
    public void Bert_decoding_gives_the_normalized_words_each_with_its_space()
    {
        var tokenizer = VocabFiles.Load(VocabFiles.VocabPath("bert-bge"));
        var ids = tokenizer.Encode("Hello, Führer!", addSpecial: true);

        Assert.Equal(tokenizer.FindToken("[CLS]"), ids[0]);
        Assert.Equal(tokenizer.FindToken("[SEP]"), ids[^1]);
        Assert.Equal("[CLS] hello, fuhrer![SEP]", tokenizer.Decode(ids));
        Assert.Equal(" hello, fuhrer!", tokenizer.Decode(ids, unparseSpecial: false));
    }

    private static bool IsTouchedByCleanUp(string text) =>
        new[] { " ?", " !", " .", " ,", " '" }.Any(s => text.Contains(s, StringComparison.Ordinal));
}
