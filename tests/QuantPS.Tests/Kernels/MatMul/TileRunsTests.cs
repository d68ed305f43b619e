using QuantPS.Kernels.MatMul;
using Xunit;

namespace QuantPS.Tests.Kernels.MatMul;

/// <summary>Matrix-vector tiles dealt as one contiguous run per thread, the rest stolen from the back.</summary>
public sealed class TileRunsTests
{
    [Fact]
    public void A_thread_takes_its_own_run_front_to_back_then_steals_from_the_back_of_the_longest()
    {
        var runs = new TileRuns(3);
        runs.Reset(9); // runs 0-2, 3-5, 6-8
        var taken = new List<long>();
        long tile;
        while ((tile = runs.Take(1)) >= 0)
        {
            taken.Add(tile);
        }

        // Own run in order; then 2's and 0's runs (equal length, lower index first) tile by tile from their backs.
        Assert.Equal(new long[] { 3, 4, 5, 2, 8, 1, 7, 0, 6 }, taken);
    }

    [Fact]
    public void Fewer_tiles_than_threads_are_each_taken_once()
    {
        var runs = new TileRuns(4);
        runs.Reset(1);
        Assert.Equal(0, runs.Take(2)); // the only tile sits in thread 3's run: stolen
        Assert.Equal(-1, runs.Take(3));
        Assert.Equal(-1, runs.Take(0));
        runs.Reset(0);
        Assert.Equal(-1, runs.Take(0));
    }

    [Theory]
    [InlineData(2, 1000)]
    [InlineData(3, 17)]
    [InlineData(8, 5003)]
    public void Racing_threads_take_every_tile_exactly_once_and_their_own_in_order(int threads, int count)
    {
        var runs = new TileRuns(threads);
        for (var round = 0; round < 20; round++)
        {
            runs.Reset(count);
            var takenBy = new List<long>[threads];
            using var start = new Barrier(threads);
            var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
            {
                var mine = takenBy[t] = new List<long>();
                start.SignalAndWait();
                long tile;
                while ((tile = runs.Take(t)) >= 0)
                {
                    mine.Add(tile);
                }
            })).ToArray();
            foreach (var worker in workers)
            {
                worker.Start();
            }

            foreach (var worker in workers)
            {
                worker.Join();
            }

            Assert.Equal(Enumerable.Range(0, count).Select(i => (long)i), takenBy.SelectMany(x => x).Order());
            for (var t = 0; t < threads; t++)
            {
                var front = (long)count * t / threads;
                var end = (long)count * (t + 1) / threads;
                var own = takenBy[t].Where(tile => tile >= front && tile < end).ToList();
                Assert.Equal(own.Order(), own); // a thread's own tiles come front to back: one forward stream
            }
        }
    }
}
