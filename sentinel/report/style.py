"""The report's stylesheet (inline: the page fetches nothing). Narrow screens (a phone, 390 px)
get the same content in one column: charts scale, tables become one card per row, long words
and SQL wrap, so the page never scrolls sideways."""

STYLE = """
*, *::before, *::after { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0;
       color: #1f2933; background: #f5f7fa; overflow-wrap: anywhere; }
main { max-width: 1160px; margin: 0 auto; padding: 24px 32px 48px; }
h1 { margin: 0 0 4px; font-size: 26px; }
h2 { margin: 32px 0 10px; font-size: 19px; border-bottom: 2px solid #d9e2ec; padding-bottom: 4px; }
h3 { margin: 0 0 4px; font-size: 17px; } h3.sub { margin: 24px 0 8px; font-size: 15px; }
h4 { margin: 14px 0 6px; font-size: 14px; }
.period { color: #52606d; margin: 0 0 16px; }
.cards { display: flex; gap: 12px; flex-wrap: wrap; }
.card { background: white; border-radius: 8px; padding: 12px 18px; min-width: 120px;
        box-shadow: 0 1px 3px rgba(0,0,0,.12); }
.card .n { font-size: 24px; font-weight: 600; } .card .k { color: #52606d; font-size: 13px; }
article.alert { background: white; border-radius: 8px; padding: 14px 16px; margin: 0 0 18px;
                box-shadow: 0 1px 3px rgba(0,0,0,.12); border-left: 5px solid #f39c12; }
ul.facts { list-style: none; padding: 0; margin: 8px 0 10px; }
ul.facts li { margin: 2px 0; } ul.facts b { display: inline-block; min-width: 9.5em; }
.badge { font-size: 12px; padding: 2px 8px; border-radius: 10px; background: #f0f4f8;
         vertical-align: middle; }
figure { margin: 0; background: white; border-radius: 8px; padding: 8px;
         box-shadow: 0 1px 3px rgba(0,0,0,.12); }
article.alert figure { box-shadow: none; padding: 0; }
figure svg { width: 100%; height: auto; display: block; }
figure .narrow { display: none; }
figcaption { color: #52606d; font-size: 13px; padding: 6px 4px 0; }
table { border-collapse: collapse; width: 100%; background: white; font-size: 14px;
        box-shadow: 0 1px 3px rgba(0,0,0,.12); border-radius: 8px; overflow: hidden; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid #e4e7eb;
         vertical-align: top; }
th { background: #e4e7eb; font-weight: 600; } td.num { text-align: right; }
td.error { color: #7b8794; font-size: 13px; }
ol.headlines { background: white; border-radius: 8px; padding: 12px 12px 12px 40px;
               box-shadow: 0 1px 3px rgba(0,0,0,.12); margin: 0; }
article.alert ol.headlines { box-shadow: none; padding: 0 0 0 24px; }
ol.headlines li { margin: 0 0 10px; } .meta { color: #52606d; font-size: 13px; }
details { margin-top: 10px; } summary { cursor: pointer; color: #1d4ed8; }
pre.sql { background: #f0f4f8; padding: 10px; border-radius: 6px; font-size: 12.5px;
          white-space: pre-wrap; overflow-wrap: anywhere; margin: 6px 0 0; }
.status-ok { color: #1e7e34; font-weight: 600; }
.status-failing, .status-firing { color: #c0392b; font-weight: 600; }
.status-pending { color: #b7791f; font-weight: 600; } .muted { color: #7b8794; }
a { color: #1d4ed8; }
@media (max-width: 640px) {
  main { padding: 16px 12px 32px; }
  figure .wide { display: none; } figure .narrow { display: block; }
  h1 { font-size: 21px; }
  .card { min-width: 0; flex: 1 1 40%; padding: 10px 12px; }
  ul.facts b { display: block; min-width: 0; }
  table.stack, table.stack tbody { display: block; box-shadow: none; background: none; }
  table.stack thead { display: none; }
  table.stack tr { display: block; background: white; border-radius: 8px; margin: 0 0 10px;
                   padding: 6px 0; box-shadow: 0 1px 3px rgba(0,0,0,.12); }
  table.stack td { display: flex; justify-content: space-between; gap: 12px; border: 0;
                   padding: 3px 12px; text-align: right; }
  table.stack td::before { content: attr(data-label); font-weight: 600; color: #52606d;
                           text-align: left; flex: 0 0 auto; }
  table.stack td[colspan]::before { content: none; }
}
"""
