using QuantPS.Inference.Engine;
using QuantPS.Inference.Generation;
using QuantPS.TestSupport;
using Xunit;

namespace QuantPS.Tests.Engine;

public sealed class TextGeneratorTests : IDisposable
{
    // models/README.md: llama.cpp's 60 greedy tokens from BOS alone.
    private const string Story = " Once upon a time, there was a little girl named Lily. She loved to play outside in the park. " +
        "One day, she saw a big, red ball. She wanted to play with it, but it was too high";

    private readonly TextGenerator _generator = new(LlmModel.Load(SharedData.File(ModelEdits.Stories)), ownsModel: true);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static GenerationOptions Greedy(int maxTokens) => new() { Temperature = 0, MaxTokens = maxTokens, Threads = 2, ContextLength = 512 };

    public void Dispose() => _generator.Dispose();

    [Fact]
    public void Greedy_from_BOS_alone_tells_llama_cpps_story()
    {
        var pieces = new List<string>();
        var result = _generator.Generate("", Greedy(60), pieces.Add, Ct);
        Assert.Equal(Story, result.Text);
        Assert.Equal(string.Concat(pieces), result.Text);
        Assert.Equal((1, 60, StopReason.MaxTokens), (result.PromptTokens, result.GeneratedTokens, result.StopReason));
        Assert.True(result.TokensPerSecond > 0 && result.PromptTokensPerSecond > 0);
    }

    [Fact]
    public void A_seed_replays_the_same_text_and_the_drawn_seed_is_reported()
    {
        var options = new GenerationOptions { MaxTokens = 40, Seed = 2024, Threads = 1, ContextLength = 256 };
        var first = _generator.Generate("Once upon a time", options, null, Ct);
        var again = _generator.Generate("Once upon a time", options, null, Ct);
        Assert.Equal(first.Text, again.Text);
        Assert.Equal(first.TokenIds, again.TokenIds);
        Assert.Equal(2024u, first.Seed);

        var random = _generator.Generate("Once upon a time", options with { Seed = null }, null, Ct);
        var replay = _generator.Generate("Once upon a time", options with { Seed = random.Seed }, null, Ct);
        Assert.Equal(random.TokenIds, replay.TokenIds);

        var seeds = Enumerable.Range(1, 4).Select(s => _generator.Generate("Once upon a time", options with { Seed = (uint)s }, null, Ct).Text).ToList();
        Assert.True(seeds.Distinct().Count() > 1, "different seeds should not all give the same 40 tokens at temperature 0.8");
    }

    [Fact]
    public void A_stop_string_ends_the_text_before_it_and_is_never_streamed()
    {
        var pieces = new List<string>();
        var result = _generator.Generate("", Greedy(60) with { Stop = ["Lily", "never appears"] }, pieces.Add, Ct);
        Assert.Equal(" Once upon a time, there was a little girl named ", result.Text);
        Assert.Equal(StopReason.StopString, result.StopReason);
        Assert.Equal(result.Text, string.Concat(pieces));
    }

    [Fact]
    public void A_full_context_stops_with_a_clear_reason()
    {
        var result = _generator.Generate("", Greedy(-1) with { ContextLength = 16 }, null, Ct);
        Assert.Equal(StopReason.ContextFull, result.StopReason);
        Assert.Equal(16, result.GeneratedTokens); // 15 decoded after BOS, the 16th sampled but no room to evaluate it
        Assert.StartsWith(" Once upon a time", result.Text, StringComparison.Ordinal);

        var tooLong = Assert.Throws<LlmException>(() => _generator.Generate(string.Concat(Enumerable.Repeat("Once upon a time. ", 10)), Greedy(5) with { ContextLength = 16 }, null, Ct));
        Assert.Equal(LlmErrorKind.ContextFull, tooLong.Kind);
    }

    [Fact]
    public void End_of_generation_stops_unless_ignored()
    {
        // stories260K's greedy text never reaches EOS, so a copy names "." as its EOS token.
        using var temp = new Gguf.TempFolder();
        var dot = (uint)_generator.Model.Tokenizer.FindToken(".")!.Value;
        var path = ModelEdits.Copy(temp.Path, ModelEdits.Stories, "eos-dot.gguf",
            new Dictionary<string, object?> { ["tokenizer.ggml.eos_token_id"] = dot });
        using var generator = new TextGenerator(LlmModel.Load(path), ownsModel: true);
        var result = generator.Generate("", Greedy(60), null, Ct);
        Assert.Equal(StopReason.EndOfGeneration, result.StopReason);
        Assert.Equal(" Once upon a time, there was a little girl named Lily", result.Text);
        Assert.Equal((int)dot, result.TokenIds[^1]);

        var ignoring = generator.Generate("", Greedy(60) with { IgnoreEos = true }, null, Ct);
        Assert.Equal(StopReason.MaxTokens, ignoring.StopReason);
        Assert.DoesNotContain((int)dot, ignoring.TokenIds); // as llama.cpp's --ignore-eos: the EOS logit is -inf
        Assert.StartsWith(result.Text, ignoring.Text, StringComparison.Ordinal);
    }

    [Fact]
    public void Cancellation_stops_promptly_and_the_generator_stays_usable()
    {
        using var cts = new CancellationTokenSource();
        var pieces = 0;
        var result = _generator.Generate("", Greedy(200), _ =>
        {
            if (++pieces == 3)
            {
                cts.Cancel();
            }
        }, cts.Token);
        Assert.Equal(StopReason.Cancelled, result.StopReason);
        Assert.InRange(result.GeneratedTokens, 3, 4);

        var cancelled = new CancellationToken(canceled: true);
        var none = _generator.Generate("", Greedy(10), null, cancelled);
        Assert.Equal((StopReason.Cancelled, 0), (none.StopReason, none.GeneratedTokens));

        Assert.Equal(Story, _generator.Generate("", Greedy(60), null, Ct).Text);
    }

    [Fact]
    public void Max_tokens_zero_evaluates_the_prompt_only()
    {
        var result = _generator.Generate("Once upon a time", Greedy(0), null, Ct);
        Assert.Equal((StopReason.MaxTokens, 0, ""), (result.StopReason, result.GeneratedTokens, result.Text));
        Assert.True(result.PromptTokens > 1);
    }

    [Fact]
    public void Invalid_options_are_LlmInvalidOption_errors()
    {
        foreach (var options in new[]
        {
            Greedy(5) with { RepeatPenalty = 0 },
            Greedy(5) with { RepeatLastN = -2 },
            Greedy(5) with { MaxTokens = -5 },
            Greedy(5) with { Threads = -1 },
        })
        {
            var e = Assert.Throws<LlmException>(() => _generator.Generate("Hi", options, null, Ct));
            Assert.Equal("LlmInvalidOption", e.ErrorId);
        }
    }
}
