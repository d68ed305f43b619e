using QuantPS.Inference.Tokenizers;
using QuantPS.Inference.Tokenizers.Splitting;
using Xunit;

namespace QuantPS.Tests.Tokenizers;

/// <summary>The split patterns: the hand-written fast paths against the regex engine, and every known name.</summary>
public sealed class PreTokenizerTests
{
    // Characters of every class the patterns distinguish, to build adversarial texts from.
    private static readonly string[] Alphabet =
    [
        "a", "Z", "é", "ж", "中", "3", "٣", "½", " ", "  ", "\n", "\r", "\t", "\u00A0", "\u3000", "'", "s", "S", "t", "re", "LL", "ve",
        "!", ",", ".", "-", "$", "+", "<", "~", "😀", "\u0301", "\u200D", "_", "/", "\u2581",
    ];

    [Theory]
    [InlineData(PreTokenizerCatalog.Gpt2Pattern)]
    [InlineData(PreTokenizerCatalog.Llama3Pattern)]
    [InlineData(PreTokenizerCatalog.Qwen2Pattern)]
    [InlineData(PreTokenizerCatalog.Qwen35Pattern)]
    [InlineData(PreTokenizerCatalog.NewlineRunsPattern)]
    public void Fast_paths_cut_like_the_regex_they_stand_for(string pattern)
    {
        var fast = CustomSplitters.For(pattern)!;
        var regex = new RegexSplitStep(pattern);
        var random = new Random(1234);
        for (var round = 0; round < 3000; round++)
        {
            var text = string.Concat(Enumerable.Range(0, random.Next(1, 14)).Select(_ => Alphabet[random.Next(Alphabet.Length)]));
            var codepoints = UnicodeData.Codepoints(text);
            var flags = codepoints.Select(UnicodeData.Flags).ToArray();

            var byFastPath = new List<int>();
            fast(codepoints, flags, byFastPath);
            var byRegex = new List<int>();
            var input = regex.Collapsed ? RegexSplitStep.CollapsedText(codepoints, flags) : regex.WideText(codepoints, flags);
            regex.Split(input, [codepoints.Length], byRegex);

            Assert.True(byRegex.SequenceEqual(byFastPath), $"'{VocabFiles.Show(text)}': regex [{string.Join(',', byRegex)}], fast path [{string.Join(',', byFastPath)}]");
        }
    }

    [Fact]
    public void Gpt2_pattern_keeps_the_space_with_the_following_word()
    {
        Assert.Equal(["Hello", " world", "'s", "  ", " 42", "!"], Split("gpt-2", "Hello world's   42!"));
    }

    [Fact]
    public void Llama3_pattern_groups_digits_by_three_and_lowercases_contractions()
    {
        Assert.Equal(["123", "456", "7", " I", "'LL", " go", "\n\n"], Split("llama-bpe", "1234567 I'LL go\n\n"));
    }

    [Fact]
    public void Qwen2_pattern_cuts_every_digit()
    {
        Assert.Equal(["1", "2", "3", " abc"], Split("qwen2", "123 abc"));
    }

    [Fact]
    public void Deepseek_llm_letters_above_the_bmp_are_letters()
    {
        // 𐐀 (Deseret) is in the pattern's letter class, 😀 is not.
        Assert.Equal(["𐐀𐐁", " x", "😀"], Split("deepseek-llm", "𐐀𐐁 x😀"));
    }

    [Fact]
    public void Every_name_llama_cpp_knows_resolves_and_its_patterns_compile()
    {
        foreach (var name in PreTokenizerCatalog.Names)
        {
            var (definition, _) = PreTokenizerCatalog.Resolve(name);
            var splitter = new PreTokenizer(definition);
            var codepoints = UnicodeData.Codepoints("Hello 世界 123, it's 4567!\n  ok");
            var pieces = splitter.Split(codepoints, codepoints.Select(UnicodeData.Flags).ToArray());
            Assert.Equal(codepoints.Length, pieces.Sum());
        }

        Assert.True(PreTokenizerCatalog.Names.Count >= 80, $"{PreTokenizerCatalog.Names.Count} names");
    }

    [Fact]
    public void An_unknown_name_is_an_error_that_names_it()
    {
        var error = Assert.Throws<TokenizerException>(() => PreTokenizerCatalog.Resolve("my-new-bpe"));

        Assert.Equal(TokenizerErrorKind.UnknownPreTokenizer, error.Kind);
        Assert.Equal("TokenizerUnknownPreTokenizer", error.ErrorId);
        Assert.Contains("'my-new-bpe'", error.Message, StringComparison.Ordinal);
        Assert.Contains("llama-bpe", error.Message, StringComparison.Ordinal);
    }

    private static string[] Split(string name, string text)
    {
        var splitter = new PreTokenizer(PreTokenizerCatalog.Resolve(name).Definition);
        var codepoints = UnicodeData.Codepoints(text);
        var pieces = splitter.Split(codepoints, codepoints.Select(UnicodeData.Flags).ToArray());
        var result = new List<string>();
        var start = 0;
        foreach (var length in pieces)
        {
            result.Add(string.Concat(codepoints.Skip(start).Take(length).Select(char.ConvertFromUtf32)));
            start += length;
        }

        return result.ToArray();
    }
}
