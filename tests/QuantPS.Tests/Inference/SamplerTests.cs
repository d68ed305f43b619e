using QuantPS.Inference.Sampling;
using Xunit;

namespace QuantPS.Tests.Engine;

public sealed class SamplerTests
{
    [Fact]
    public void Mt19937_gives_the_C_plus_plus_standards_stream()
    {
        // [rand.predef]: the 10000th invocation of a default-constructed std::mt19937 produces 4123659995.
        var rng = new Mt19937();
        uint value = 0;
        for (var i = 0; i < 10000; i++)
        {
            value = rng.Next();
        }

        Assert.Equal(4123659995u, value);

        // libstdc++ (GCC 12), std::mt19937(42)(): the first three outputs.
        var seeded = new Mt19937(42);
        Assert.Equal([1608637542u, 3421126067u, 4083286876u], new[] { seeded.Next(), seeded.Next(), seeded.Next() });
    }

    [Fact]
    public void NextDouble_is_libstdcxx_uniform_real_distribution_of_double()
    {
        // std::uniform_real_distribution<double>(0, 1) over std::mt19937(5489) and (42), printed with %.17g by libstdc++.
        var rng = new Mt19937(5489);
        Assert.Equal([0.1354770042967805, 0.8350085899945795, 0.96886777112423139, 0.2210340429827049],
            new[] { rng.NextDouble(), rng.NextDouble(), rng.NextDouble(), rng.NextDouble() });
        var rng42 = new Mt19937(42);
        Assert.Equal([0.79654298428784598, 0.18343478789336848, 0.77969099761266125],
            new[] { rng42.NextDouble(), rng42.NextDouble(), rng42.NextDouble() });
    }

    private static float[] Logits(int n, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 8 - 4)).ToArray();
    }

    private static int ArgMax(float[] logits) => Array.IndexOf(logits, logits.Max());

    [Fact]
    public void Temperature_zero_is_greedy_with_the_lowest_id_on_ties()
    {
        var logits = Logits(512, 1);
        var sampler = new Sampler(512, new SamplingOptions { Temperature = 0 }, 512);
        Assert.Equal(ArgMax(logits), sampler.Sample(logits));

        var tied = new float[10];
        tied[3] = 5;
        tied[7] = 5;
        Assert.Equal(3, new Sampler(10, new SamplingOptions { Temperature = 0 }, 10).Sample(tied));
    }

    [Fact]
    public void Top_k_of_one_always_picks_the_most_likely()
    {
        var sampler = new Sampler(512, new SamplingOptions { TopK = 1, Seed = 7 }, 512);
        for (var i = 0; i < 20; i++)
        {
            var logits = Logits(512, 100 + i);
            Assert.Equal(ArgMax(logits), sampler.Sample(logits));
        }
    }

    [Fact]
    public void A_fixed_seed_replays_and_reset_restarts_the_stream()
    {
        var logits = Logits(512, 3);
        int[] Run(Sampler s) => Enumerable.Range(0, 50).Select(_ => s.Sample(logits)).ToArray();
        var options = new SamplingOptions { Seed = 1234, Temperature = 1.5f, TopK = 0, TopP = 1, MinP = 0 };
        var first = Run(new Sampler(512, options, 512));
        var sampler = new Sampler(512, options, 512);
        Assert.Equal(first, Run(sampler));
        sampler.Reset();
        Assert.Equal(first, Run(sampler));
        Assert.True(first.Distinct().Count() > 10, "a hot, unfiltered distribution should vary");
        Assert.NotEqual(first, Run(new Sampler(512, options with { Seed = 1235 }, 512)));
    }

    [Fact]
    public void Draws_follow_the_softmax_and_the_dist_sampler_rule()
    {
        // Logits ln(1), ln(2), ln(3), ln(4): probabilities 0.1 .. 0.4. Unfiltered, unsorted (id order), temperature 1:
        // llama.cpp picks the first id whose running sum reaches total x uniform.
        float[] logits = [0, MathF.Log(2), MathF.Log(3), MathF.Log(4)];
        var options = new SamplingOptions { Seed = 99, Temperature = 1, TopK = 0, TopP = 1, MinP = 0 };
        var sampler = new Sampler(4, options, 16);
        var rng = new Mt19937(99);
        var counts = new int[4];
        for (var i = 0; i < 4000; i++)
        {
            var u = rng.NextDouble();
            var expected = u <= 0.1 ? 0 : u <= 0.3 ? 1 : u <= 0.6 ? 2 : 3;
            var got = sampler.Sample(logits);
            counts[got]++;
            if (Math.Abs(u - 0.1) > 1e-6 && Math.Abs(u - 0.3) > 1e-6 && Math.Abs(u - 0.6) > 1e-6)
            {
                Assert.Equal(expected, got);
            }
        }

        Assert.InRange(counts[3], 1500, 1700);
    }

    [Fact]
    public void Top_p_and_min_p_cut_the_tail()
    {
        // p = 0.5, 0.3, 0.15, 0.05: top-p 0.7 keeps two; min-p 0.2 keeps those at or above 0.1 (three).
        float[] logits = [MathF.Log(0.5f), MathF.Log(0.3f), MathF.Log(0.15f), MathF.Log(0.05f)];
        var topP = new Sampler(4, new SamplingOptions { Seed = 1, TopK = 0, TopP = 0.7f, MinP = 0, Temperature = 1 }, 4);
        var minP = new Sampler(4, new SamplingOptions { Seed = 1, TopK = 0, TopP = 1, MinP = 0.2f, Temperature = 1 }, 4);
        var seenTopP = new HashSet<int>();
        var seenMinP = new HashSet<int>();
        for (var i = 0; i < 2000; i++)
        {
            seenTopP.Add(topP.Sample(logits));
            seenMinP.Add(minP.Sample(logits));
        }

        Assert.Equal([0, 1], seenTopP.Order());
        Assert.Equal([0, 1, 2], seenMinP.Order());
    }

    [Fact]
    public void Penalties_follow_llama_cpp_over_the_last_n_tokens()
    {
        float[] logits = [2f, -2f, 1f, 0.5f];
        var options = new SamplingOptions { Temperature = 0, RepeatPenalty = 4f, RepeatLastN = 2, FrequencyPenalty = 0.1f, PresencePenalty = 0.2f };
        var sampler = new Sampler(4, options, 16);
        Assert.Equal(0, sampler.Sample(logits));

        sampler.Accept(0);
        sampler.Accept(0);
        // token 0: 2 / 4 - 2 x 0.1 - 0.2 = 0.1 < token 2's 1.
        Assert.Equal(2, sampler.Sample(logits));

        sampler.Accept(2);
        sampler.Accept(2); // the window (2) now holds only token 2: token 0 is back at 2
        Assert.Equal(0, sampler.Sample(logits));
    }

    [Fact]
    public void Banned_tokens_are_never_picked()
    {
        float[] logits = [9f, 1f, 0f];
        var sampler = new Sampler(3, new SamplingOptions { Temperature = 0 }, 3, bannedTokens: [0]);
        Assert.Equal(1, sampler.Sample(logits));
    }
}
