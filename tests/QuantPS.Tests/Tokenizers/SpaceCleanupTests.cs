using System.Text;
using QuantPS.Inference.Tokenizers;
using Xunit;

namespace QuantPS.Tests.Tokenizers;

/// <summary>llama.cpp's clean_up_tokenization_spaces, pass by pass (each pass sees what the previous wrote).</summary>
public sealed class SpaceCleanupTests
{
    [Theory]
    [InlineData("Hello , world !", "Hello, world!")]
    [InlineData("Why ? Yes .", "Why? Yes.")]
    [InlineData("it ' s", "it's")]
    [InlineData("a ' b ' c", "a'b'c")]
    [InlineData("he 's, I 'm, you 're, we 've", "he's, I'm, you're, we've")]
    [InlineData("don 't, I 'd, we 'll", "don 't, I 'd, we 'll")]
    [InlineData(" ", " ")]
    [InlineData("", "")]
    public void Spaces_are_cleaned_as_llama_cpp_cleans_them(string detokenized, string expected)
    {
        var cleaned = SpaceCleanup.Apply(Encoding.UTF8.GetBytes(detokenized));

        Assert.Equal(expected, Encoding.UTF8.GetString(cleaned).Replace("\0", string.Empty, StringComparison.Ordinal));
    }
}
