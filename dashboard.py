"""The Streamlit dashboard's entry point: `monitor dashboard` or `streamlit run dashboard.py`.

It finds feeds.yaml like the command line does ($MONITOR_CONFIG, else ./feeds.yaml), reads the
store the poller fills, and never writes to it. The app itself lives in the `monitor_app`
package (the frame in monitor_app/app.py, one module per page in monitor_app/pages/).
"""

from monitor_app.app import main

main()
