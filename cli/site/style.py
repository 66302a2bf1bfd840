"""The docs site's stylesheet, inlined in every page (the site needs no network and no CDN)."""

CSS = """
:root{--ink:#0f172a;--muted:#64748b;--line:#e2e8f0;--bg:#f8fafc;--accent:#0b5cab;--ok:#166534;--bad:#b91c1c;
--warn:#a16207}
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 -apple-system,"Segoe UI",Helvetica,Arial,"Liberation Sans",sans-serif;color:var(--ink);
background:var(--bg)}
header.top{background:#0f172a;color:#fff;padding:0 24px;display:flex;align-items:center;gap:28px;height:52px}
header.top a{color:#cbd5e1;text-decoration:none;font-weight:600;font-size:14px}
header.top a:hover,header.top a.here{color:#fff}
header.top .brand{color:#fff;font-size:17px;letter-spacing:.3px}
main{max-width:1240px;margin:0 auto;padding:24px}
h1{font-size:26px;margin:8px 0 4px}
h2{font-size:19px;margin:30px 0 10px;padding-bottom:6px;border-bottom:1px solid var(--line)}
h3{font-size:16px;margin:20px 0 8px}
p.lead{font-size:16px;color:#334155;margin:4px 0 14px}
a{color:var(--accent)}
code,pre{font-family:Menlo,Consolas,"DejaVu Sans Mono",monospace;font-size:13px}
code{background:#eef2f7;padding:1px 4px;border-radius:4px}
pre{background:#0f172a;color:#e2e8f0;padding:14px;border-radius:8px;overflow-x:auto}
pre code{background:none;padding:0}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid var(--line);border-radius:8px;
overflow:hidden;margin:8px 0 16px}
th,td{text-align:left;padding:8px 10px;border-bottom:1px solid var(--line);vertical-align:top;font-size:14px}
th{background:#f1f5f9;font-size:12px;text-transform:uppercase;letter-spacing:.4px;color:#475569}
tr:last-child td{border-bottom:none}
tr:target{background:#fef9c3}
.meta{display:flex;flex-wrap:wrap;gap:8px 22px;color:#334155;font-size:14px;margin:8px 0 4px}
.meta b{color:var(--muted);font-weight:600;font-size:12px;text-transform:uppercase;letter-spacing:.4px;
margin-right:6px}
.chip{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:700;margin:1px 2px;
white-space:nowrap}
.chip.owned{background:#dcfce7;color:#166534}.chip.if-blank{background:#eef2f7;color:#475569}
.chip.overwrite{background:#ffedd5;color:#9a3412}.chip.picklist{background:#ede9fe;color:#5b21b6}
.chip.pass{background:#dcfce7;color:#166534}.chip.fail{background:#fee2e2;color:#b91c1c}
.chip.on{background:#dcfce7;color:#166534}.chip.off{background:#fee2e2;color:#b91c1c}
.chip.error{background:#fee2e2;color:#b91c1c}.chip.warning{background:#fef3c7;color:#92400e}
.chip.crm{background:#e0ecff;color:#0b5cab}.chip.hubspot{background:#ffedd5;color:#c2410c}
.chip.field{background:#f1f5f9;color:#0f172a;font-weight:600;text-decoration:none}
a.chip.field:hover{background:#e2e8f0}
.tmpl{font-family:Menlo,Consolas,"DejaVu Sans Mono",monospace;color:#7c3aed;font-size:13px}
.muted{color:var(--muted)}
.graph{background:#fff;border:1px solid var(--line);border-radius:10px;padding:10px;overflow-x:auto;margin:12px 0}
.graph svg{display:block;margin:0 auto;max-width:100%;height:auto}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(250px,1fr));gap:12px;margin:12px 0}
.card{background:#fff;border:1px solid var(--line);border-radius:10px;padding:12px 14px}
.card .n{font-size:24px;font-weight:700}
.card .l{color:var(--muted);font-size:13px}
ul.diags{list-style:none;padding:0;margin:6px 0}
ul.diags li{background:#fff;border:1px solid var(--line);border-left:4px solid var(--warn);border-radius:6px;
padding:8px 12px;margin:6px 0;font-size:14px}
ul.diags li.error{border-left-color:var(--bad)}
.problems{margin:4px 0 0;padding-left:18px;color:var(--bad);font-size:13px}
details{background:#fff;border:1px solid var(--line);border-radius:8px;padding:8px 12px;margin:10px 0}
details pre{margin:8px 0 0}
summary{cursor:pointer;font-weight:600}
.doc{background:#fff;border:1px solid var(--line);border-radius:10px;padding:8px 28px 20px}
.doc table{font-size:13px}
.dead-link{border-bottom:1px dotted var(--muted)}
footer{color:var(--muted);font-size:12px;text-align:center;padding:24px}
.legend{font-size:13px;color:#475569;margin:4px 0}
"""
